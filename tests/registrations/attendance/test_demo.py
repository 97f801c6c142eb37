"""``manage.py load_demo_attendance``: the demo reports match the seeded class in full."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from courses.models import Offering
from registrations.attendance import imports
from registrations.attendance.models import ImportedParticipant
from tests.attendance_fixtures import ATTENDANCE_DATA

pytestmark = pytest.mark.django_db


@time_machine.travel(datetime(2024, 11, 1, tzinfo=UTC), tick=False)
def import_2024(schedule_2024):
    call_command("import_schedule", str(schedule_2024), verbosity=0)


def test_the_demo_class_matches_both_demo_reports(course, schedule_2024, admin_user):
    import_2024(schedule_2024)
    out = StringIO()
    call_command("load_demo_attendance", stdout=out)
    call_command("load_demo_attendance", stdout=out)  # again: nothing added
    assert "(6 registrations added)" in out.getvalue()
    assert "(0 registrations added)" in out.getvalue()
    offering = Offering.objects.get(starts_on="2024-12-12", part_of_day="day")
    assert offering.registrations.filter(state="confirmed").count() == 6

    day_1, day_2 = offering.session_list
    for session, name in (
        (day_1, "zoom-participants-2024-12-12.csv"),
        (day_2, "teams-attendance-2024-12-13.csv"),
    ):
        data = (ATTENDANCE_DATA / name).read_bytes()
        stored = imports.import_preview(session, data, filename=name, user=admin_user)
        outcomes = set(stored.participants.values_list("outcome", flat=True))
        assert ImportedParticipant.Outcome.AMBIGUOUS not in outcomes
        matched = stored.participants.filter(outcome__in=ImportedParticipant.MATCHED)
        assert matched.count() == (6 if session == day_1 else 5)
        assert stored.participants.get(name="Lead Trainer").outcome == "host"
