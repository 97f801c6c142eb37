"""Minimum enrolment: the go/no-go date (the class's own, else the course's days before the
first session), the staff prompt sent once on that date in the class's zone, confirming that a
class runs, and the validation of the date."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client

from courses.models import Offering
from registrations import links
from registrations.changes import enrolment
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, User
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import open_link

S = Registration.State
FIRST_DAY = date(2027, 6, 10)  # go/no-go: May 20, 2027 (21 days before), Mountain Time


@pytest.fixture
def offering(course) -> Offering:
    offering = make_offering(course, FIRST_DAY)
    offering.minimum_attendees = 3
    offering.save()
    return offering


def prompts() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind=enrolment.GO_NO_GO))


@pytest.mark.django_db
def test_the_go_no_go_date_defaults_to_the_course_days_before_the_first_session(offering):
    assert offering.go_no_go_date == date(2027, 5, 20)
    offering.course.go_no_go_days = 14
    assert offering.go_no_go_date == date(2027, 5, 27)
    offering.go_no_go_on = date(2027, 5, 1)
    assert offering.go_no_go_date == date(2027, 5, 1)


@pytest.mark.django_db
def test_the_prompt_fires_once_on_its_date_in_the_class_zone(offering, settings):
    registration_in(S.CONFIRMED, offering)
    registration_in(S.WAITLISTED, offering)
    # 05:00 UTC on May 20 is still May 19 in Denver (23:00 MDT): not yet.
    with time_machine.travel(datetime(2027, 5, 20, 5, tzinfo=UTC), tick=False):
        assert enrolment.go_no_go_due(datetime.now(UTC)) == []
        enrolment.prompt_go_no_go_task.delay()
    assert prompts() == []
    # 07:00 UTC is 01:00 on May 20 in Denver: due; run the task twice.
    with time_machine.travel(datetime(2027, 5, 20, 7, tzinfo=UTC), tick=False):
        assert [o.pk for o in enrolment.go_no_go_due(datetime.now(UTC))] == [offering.pk]
        enrolment.prompt_go_no_go_task.delay()
        enrolment.prompt_go_no_go_task.delay()
    with time_machine.travel(datetime(2027, 5, 22, 7, tzinfo=UTC), tick=False):
        assert enrolment.prompt_due() == 0
    [email] = prompts()
    offering.refresh_from_db()
    assert offering.go_no_go_prompted_at == datetime(2027, 5, 20, 7, tzinfo=UTC)
    assert email.to_email == settings.TRAINING_ADMIN_EMAIL
    assert email.dedupe_key == f"go-no-go:{offering.pk}"
    assert (email.context["confirmed"], email.context["minimum"]) == (1, 3)  # not the waitlist
    assert email.context["admin_url"].endswith(f"/admin/courses/offering/{offering.pk}/change/")
    assert outbox.email_send(email.pk).outcome == "sent"
    [sent] = mail.outbox
    assert "(1 of 3 confirmed)" in sent.subject
    assert "Confirmed attendees: 1 (minimum 3)." in sent.body
    assert f"/admin/courses/offering/?id__exact={offering.pk}" in sent.body


@pytest.mark.django_db
def test_no_prompt_without_a_minimum_once_confirmed_cancelled_or_draft(course, offering):
    plain = make_offering(course, date(2027, 6, 17))
    draft = make_offering(course, date(2027, 6, 24), status=Offering.Status.DRAFT)
    cancelled = make_offering(course, date(2027, 7, 1))
    for other in (draft, cancelled):
        other.minimum_attendees = 3
        other.save()
    Offering.objects.filter(pk=cancelled.pk).update(status=Offering.Status.CANCELLED)
    enrolment.run_confirm(offering, User.objects.create_user("boss", "boss@example.org"))
    assert plain.minimum_attendees is None
    with time_machine.travel(datetime(2027, 6, 1, 7, tzinfo=UTC), tick=False):
        assert enrolment.prompt_due() == 0
    assert prompts() == []


@pytest.mark.django_db
def test_confirming_a_class_records_who_and_is_idempotent(offering):
    boss = User.objects.create_user("boss", "boss@example.org")
    assert enrolment.run_confirm(offering, boss) is True
    assert enrolment.run_confirm(offering, boss) is False
    offering.refresh_from_db()
    assert offering.run_confirmed_by == boss and offering.run_confirmed_at is not None
    latest = offering.history.latest()
    assert latest.history_user == boss and latest.run_confirmed_at == offering.run_confirmed_at
    Offering.objects.filter(pk=offering.pk).update(status=Offering.Status.CANCELLED)
    offering.refresh_from_db()
    offering.run_confirmed_at = None
    with pytest.raises(enrolment.RunConfirmRefused):
        enrolment.run_confirm(offering, boss)


@pytest.mark.django_db
def test_the_go_no_go_date_must_fall_before_the_first_session(offering):
    offering.go_no_go_on = FIRST_DAY
    with pytest.raises(ValidationError) as error:
        offering.full_clean()
    assert "go_no_go_on" in error.value.message_dict
    offering.go_no_go_on = date(2027, 6, 9)
    offering.full_clean()


@pytest.mark.django_db
def test_an_attendee_of_an_unconfirmed_class_reads_that_it_may_not_run(offering):
    registration = registration_in(S.CONFIRMED, offering)
    client = Client()
    page = open_link(client, links.manage_path(registration)).content.decode()
    assert (
        "This class runs if at least 3 people enrol; we confirm by Thursday, May 20, 2027" in page
    )
    enrolment.run_confirm(offering, User.objects.create_user("boss", "boss@example.org"))
    page = client.get(links.manage_page_path(registration)).content.decode()
    assert "This class runs if at least" not in page
