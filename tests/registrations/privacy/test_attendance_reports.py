"""Retention and erasure of what participants reports said of people: the names and addresses
go, the minutes stay."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from registrations.attendance import imports
from registrations.attendance.models import ImportedParticipant, SessionAttendance
from registrations.certificates.service import issue_certificate
from registrations.models import Registration
from registrations.privacy import retention, scrub
from registrations.transitions import Actor, registration_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def applied(december_class, attendees, zoom_day_1, admin_user):
    day_1 = december_class.session_list[0]
    stored = imports.import_preview(day_1, zoom_day_1, filename="z.csv", user=admin_user)
    imports.import_apply(stored, user=admin_user)
    return stored


def test_report_names_go_after_the_period_and_minutes_stay(applied, attendees, settings):
    settings.ATTENDANCE_REPORT_RETENTION = timedelta(days=90)
    assert retention.apply_retention(now=timezone.now()).report_names_removed == 0
    later = timezone.now() + timedelta(days=91)
    assert retention.apply_retention(now=later).report_names_removed == 8
    assert not ImportedParticipant.objects.exclude(name="", email="").exists()
    assert retention.apply_retention(now=later).report_names_removed == 0
    ben = SessionAttendance.objects.get(registration=attendees["Ben"])
    assert ben.minutes == Decimal("237.6")
    assert any("attendance report" in line for line in retention.notice_lines())


def test_erasure_removes_the_persons_report_rows_only(applied, attendees):
    ben = attendees["Ben"]
    assert scrub.apply(
        scrub.ANONYMISE, ben.pk, now=timezone.now(), actor=Actor.system(), note="Erased."
    )
    row = ImportedParticipant.objects.get(registration=ben)
    assert (row.name, row.email) == ("", "")
    assert row.minutes == Decimal("237.6")
    assert ImportedParticipant.objects.get(registration=attendees["Ana"]).name == "Ana Test"


def test_anonymising_a_training_record_removes_the_name_on_its_certificate(
    december_class, attendees, client
):
    ana = attendees["Ana"]
    registration_transition(
        registration_id=ana.pk, to_state=Registration.State.COMPLETED, actor=Actor.system()
    )
    certificate = issue_certificate(ana.pk)
    assert scrub.apply(
        scrub.ANONYMISE, ana.pk, now=timezone.now(), actor=Actor.system(), note="Retention."
    )
    certificate.refresh_from_db()
    assert certificate.name == scrub.REMOVED
    assert set(certificate.history.values_list("name", flat=True)) == {scrub.REMOVED}
    page = client.get(f"/certificates/{certificate.number}/").content.decode()
    assert "Ana" not in page
