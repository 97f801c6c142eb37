"""``registrations.attendance.completion``: the minimum, marks and excuses, finalising, and
completion only once every session is finalised and attended."""

from decimal import Decimal

import pytest
from django.core import mail

from registrations.attendance import completion, imports
from registrations.attendance.models import SessionAttendance
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, RegistrationEvent
from tests.factories import registration_in

pytestmark = pytest.mark.django_db
S = Registration.State


@pytest.fixture
def imported(december_class, attendees, zoom_day_1, teams_day_2, admin_user):
    day_1, day_2 = december_class.session_list
    for session, data in ((day_1, zoom_day_1), (day_2, teams_day_2)):
        stored = imports.import_preview(session, data, filename="r", user=admin_user)
        imports.import_apply(stored, user=admin_user)
    return day_1, day_2


def states(attendees) -> dict[str, str]:
    return {
        name: Registration.objects.get(pk=registration.pk).state
        for name, registration in attendees.items()
    }


def test_the_minimum_is_the_courses_share_of_the_session(december_class):
    day_1 = december_class.session_list[0]
    assert completion.minimum_minutes(day_1) == Decimal("216.0")  # 90 % of 240
    course = december_class.course
    course.attendance_minimum_percent = 75
    course.save()
    assert completion.minimum_minutes(day_1) == Decimal("180.0")


def test_completion_only_after_both_sessions_are_finalised_and_attended(
    imported, attendees, admin_user, django_capture_on_commit_callbacks
):
    day_1, day_2 = imported
    with django_capture_on_commit_callbacks() as day_1_callbacks:
        outcome = completion.session_finalise(day_1, user=admin_user)
    assert outcome == {"completed": [], "short": [attendees["Dev"].pk]}  # 75 of 216 minutes
    assert set(states(attendees).values()) == {S.CONFIRMED}  # day 2 not finalised yet
    assert len(day_1_callbacks) == 1  # the short-attendance email's send; no certificate

    with django_capture_on_commit_callbacks() as callbacks:
        outcome = completion.session_finalise(day_2, user=admin_user)
    completed = {"Ana", "Ben", "Cara", "José", "Zoë"}
    assert sorted(outcome["completed"]) == sorted(attendees[n].pk for n in completed)
    assert outcome["short"] == [attendees["Dev"].pk]  # absent on day 2
    assert states(attendees) == {
        n: S.COMPLETED if n in completed else S.CONFIRMED for n in attendees
    }
    # One certificate each, issued after commit, and Dev's second short-attendance email.
    assert len(callbacks) == len(completed) + 1
    event = RegistrationEvent.objects.filter(registration=attendees["Ana"]).latest("pk")
    assert event.to_state == S.COMPLETED and event.staff_user == admin_user

    assert completion.session_finalise(day_2, user=admin_user) == {"completed": [], "short": []}


def test_one_short_attendance_email_per_session_with_whom_to_contact(
    imported, attendees, admin_user
):
    day_1, _ = imported
    completion.session_finalise(day_1, user=admin_user)
    completion.session_finalise(day_1, user=admin_user)
    [row] = OutboundEmail.objects.filter(kind="attendance_short")
    assert row.to_email == attendees["Dev"].email
    outbox.email_send(row.pk)
    [message] = mail.outbox
    assert "Attendance below the minimum" in message.subject
    assert "90 %" in message.body and "make-up" in message.body
    assert "/manage/" in message.body or "manage" in message.body


def test_an_excuse_and_a_mark_complete_the_early_leaver(imported, attendees, admin_user):
    day_1, day_2 = imported
    dev = attendees["Dev"]
    completion.attendance_excuse(
        dev, day_1, reason="Called in to a major incident.", user=admin_user
    )
    completion.attendance_mark(dev, day_2, SessionAttendance.Mark.PRESENT, user=admin_user)
    completion.session_finalise(day_1, user=admin_user)
    outcome = completion.session_finalise(day_2, user=admin_user)
    assert dev.pk in outcome["completed"]
    row = SessionAttendance.objects.get(registration=dev, session=day_1)
    assert row.history.first().history_change_reason == "Excused: Called in to a major incident."
    assert row.history.first().history_user == admin_user


def test_a_mark_absent_wins_over_the_reports_and_nothing_changes_after_finalising(
    imported, attendees, admin_user
):
    day_1, day_2 = imported
    ana = attendees["Ana"]
    completion.attendance_mark(ana, day_1, SessionAttendance.Mark.ABSENT, user=admin_user)
    assert not completion.attended(ana.pk, day_1)
    completion.attendance_mark(ana, day_1, SessionAttendance.Mark.NONE, user=admin_user)
    assert completion.attended(ana.pk, day_1)  # back to the report's 240 minutes
    completion.session_finalise(day_1, user=admin_user)
    with pytest.raises(imports.ImportRefused, match="finalised"):
        completion.attendance_mark(ana, day_1, SessionAttendance.Mark.ABSENT, user=admin_user)
    stored = day_1.attendance_imports.get()
    with pytest.raises(imports.ImportRefused, match="finalised"):
        imports.import_undo(stored, user=admin_user)


def test_cancelled_people_are_not_attendees(imported, attendees, december_class, admin_user):
    day_1, _ = imported
    outsider = registration_in(S.CANCELLED, december_class, first_name="Eve")
    with pytest.raises(imports.ImportRefused, match="not confirmed"):
        completion.attendance_mark(outsider, day_1, SessionAttendance.Mark.PRESENT, user=admin_user)
