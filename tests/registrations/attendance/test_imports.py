"""``registrations.attendance.imports``: the shared reports matched to the December 2024 class,
staff's decisions, applying, re-importing, a restarted meeting's second report, and undo."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from registrations.attendance import imports
from registrations.attendance.models import AttendanceImport, ImportedParticipant, SessionAttendance
from registrations.attendance.reports import ReportError
from registrations.models import Registration
from tests.factories import make_offering, registration_in

pytestmark = pytest.mark.django_db
Outcome = ImportedParticipant.Outcome


def sessions(offering):
    return offering.session_list


def outcomes(stored) -> dict[str, tuple[str, str | None]]:
    return {
        p.name: (p.outcome, p.registration.first_name if p.registration else None)
        for p in stored.participants.select_related("registration")
    }


def minutes(session) -> dict[str, Decimal | None]:
    return {
        row.registration.first_name: row.minutes
        for row in SessionAttendance.objects.filter(session=session).select_related("registration")
    }


def test_the_zoom_report_for_day_1(december_class, attendees, zoom_day_1, admin_user):
    day_1 = sessions(december_class)[0]
    stored = imports.import_preview(day_1, zoom_day_1, filename="zoom.csv", user=admin_user)
    assert stored.status == AttendanceImport.Status.PREVIEW and stored.platform == "zoom"
    assert outcomes(stored) == {
        "Lead Trainer": (Outcome.HOST, None),
        "Ana Test": (Outcome.EMAIL, "Ana"),
        "Ben Sample (Dispatch)": (Outcome.EMAIL, "Ben"),
        "Cara Example": (Outcome.NAME, "Cara"),  # a guest without email, matched by name
        "Dev Placeholder": (Outcome.EMAIL, "Dev"),
        "José Núñez": (Outcome.EMAIL, "José"),
        "iPhone (2)": (Outcome.UNMATCHED, None),
        "Zoë Ångström": (Outcome.EMAIL, "Zoë"),
    }
    assert SessionAttendance.objects.count() == 0  # a preview counts nothing

    assert imports.import_apply(stored, user=admin_user) == 6
    assert minutes(day_1) == {
        "Ana": Decimal("240.0"), "Ben": Decimal("237.6"), "Cara": Decimal("237.4"),
        "Dev": Decimal("75.0"), "José": Decimal("240.0"), "Zoë": Decimal("220.0"),
    }  # fmt: skip
    ben = SessionAttendance.objects.get(registration=attendees["Ben"], session=day_1)
    latest = ben.history.first()
    assert latest.history_user == admin_user
    assert latest.history_change_reason == f"Import {stored.pk} applied."


def test_the_teams_report_for_day_2(december_class, attendees, teams_day_2, admin_user):
    day_2 = sessions(december_class)[1]
    stored = imports.import_preview(day_2, teams_day_2, filename="teams.csv", user=admin_user)
    assert stored.platform == "teams" and stored.encoding == "utf-16"
    found = outcomes(stored)
    assert found["Test, Ana"] == (Outcome.EMAIL, "Ana")
    assert found["Jose Nunez"] == (Outcome.EMAIL, "José")  # by email despite the missing accents
    assert found["Cara Example (Guest)"] == (Outcome.NAME, "Cara")
    imports.import_apply(stored, user=admin_user)
    got = minutes(day_2)
    assert got["Ben"] == Decimal("240.0")  # overlapping rows counted once
    assert "Dev" not in got  # absent: no report places him


def test_reimporting_the_same_file_changes_nothing(
    december_class, attendees, zoom_day_1, admin_user
):
    day_1 = sessions(december_class)[0]
    first = imports.import_preview(day_1, zoom_day_1, filename="a.csv", user=admin_user)
    imports.import_apply(first, user=admin_user)
    before = minutes(day_1)
    with pytest.raises(imports.ImportRefused, match="already applied"):
        imports.import_preview(day_1, zoom_day_1, filename="again.csv", user=admin_user)
    assert minutes(day_1) == before
    assert AttendanceImport.objects.count() == 1


def test_a_restarted_meetings_second_report_adds_and_undo_takes_it_out(
    december_class, attendees, zoom_day_1, admin_user
):
    day_1 = sessions(december_class)[0]
    first = imports.import_preview(day_1, zoom_day_1, filename="a.csv", user=admin_user)
    imports.import_apply(first, user=admin_user)
    # After a restart, Dev came back from 10:15 to 13:00 in a new meeting.
    second_report = (
        b"Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest\n"
        b"Dev Placeholder,dev.placeholder@county911.example.org,12/12/2024 10:14:00 AM,"
        b"12/12/2024 01:00:00 PM,166,No\n"
    )
    second = imports.import_preview(day_1, second_report, filename="b.csv", user=admin_user)
    assert imports.import_apply(second, user=admin_user) == 1
    assert minutes(day_1)["Dev"] == Decimal("240.0")  # 9:00–10:15 and 10:14–13:00, overlap once

    assert imports.import_undo(second, user=admin_user) == 1
    assert minutes(day_1)["Dev"] == Decimal("75.0")
    imports.import_undo(first, user=admin_user)
    assert set(minutes(day_1).values()) == {None}
    # An undone file may be imported again.
    again = imports.import_preview(day_1, zoom_day_1, filename="a.csv", user=admin_user)
    imports.import_apply(again, user=admin_user)
    assert minutes(day_1)["Ben"] == Decimal("237.6")


def test_staff_assign_or_ignore_unmatched_and_ambiguous_rows(december_class, attendees, admin_user):
    day_1 = sessions(december_class)[0]
    report = (
        b"Name,Email,Join Time,Leave Time\n"
        b"Ana Test,,12/12/2024 09:00 AM,12/12/2024 01:00 PM\n"  # a second Ana Test registered
        b"Dispatch Desk 4,,12/12/2024 09:00 AM,12/12/2024 01:00 PM\n"
    )
    other_ana = registration_in(
        Registration.State.CONFIRMED, december_class, first_name="Ana", last_name="Test",
        email="ana.t@other.example.gov",
    )  # fmt: skip
    stored = imports.import_preview(day_1, report, filename="x.csv", user=admin_user)
    ambiguous = stored.participants.get(name="Ana Test")
    assert ambiguous.outcome == Outcome.AMBIGUOUS
    assert sorted(ambiguous.candidates) == sorted([attendees["Ana"].pk, other_ana.pk])
    with pytest.raises(imports.ImportRefused, match="assign or ignore"):
        imports.import_apply(stored, user=admin_user)

    imports.participant_assign(ambiguous, other_ana)
    desk = stored.participants.get(name="Dispatch Desk 4")
    imports.participant_assign(desk, attendees["Dev"])
    imports.import_apply(stored, user=admin_user)
    got = minutes(day_1)
    assert got == {"Ana": Decimal("240.0"), "Dev": Decimal("240.0")}
    assert SessionAttendance.objects.get(registration=other_ana).minutes == Decimal("240.0")
    with pytest.raises(imports.ImportRefused, match="preview"):
        imports.participant_assign(desk, None)


def test_a_report_of_another_day_is_refused(december_class, attendees, teams_day_2, admin_user):
    day_1 = sessions(december_class)[0]
    with pytest.raises(imports.ImportRefused, match="does not overlap the session"):
        imports.import_preview(day_1, teams_day_2, filename="teams.csv", user=admin_user)
    assert AttendanceImport.objects.count() == 0


def test_a_session_that_has_not_started_takes_no_report(course, zoom_day_1, admin_user):
    upcoming = make_offering(course, (timezone.now() + timedelta(days=30)).date())
    with pytest.raises(imports.ImportRefused, match="not started"):
        imports.import_preview(upcoming.session_list[0], zoom_day_1, filename="z", user=admin_user)


def test_an_unreadable_file_is_a_report_error(december_class, attendees, admin_user):
    with pytest.raises(ReportError):
        imports.import_preview(
            sessions(december_class)[0], b"\x89PNG\r\n", filename="x.png", user=admin_user
        )


def test_instructors_rows_are_left_out(december_class, attendees, zoom_day_1, admin_user):
    trainer = User.objects.create_user("trainer", "Trainer@cit-training.example", is_staff=True)
    december_class.instructors.add(trainer)
    report = (
        b"Name,Email,Join Time,Leave Time\n"
        b"Lead Trainer,trainer@cit-training.example,12/12/2024 09:00 AM,12/12/2024 01:00 PM\n"
    )
    stored = imports.import_preview(
        sessions(december_class)[0], report, filename="t.csv", user=admin_user
    )
    assert stored.participants.get().outcome == Outcome.HOST
