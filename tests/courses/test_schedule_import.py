"""The schedule importer on the organisation's real published schedules, and on broken input."""

from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command

from courses.models import Course, Offering, Session
from courses.schedule_import import ScheduleError, parse_schedule
from tests.conftest import PUBLISHED_SCHEDULES, SCHEDULES


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_schedule", str(path), *args, stdout=out)
    return out.getvalue()


def sessions_of(first_day: date, part: str) -> list[tuple[datetime, datetime]]:
    offering = Offering.objects.get(starts_on=first_day, part_of_day=part)
    return [(s.starts_at, s.ends_at) for s in offering.sessions.order_by("starts_at")]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedule.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["cit-911-schedule-2024.txt", "cit-911-schedule-2027.txt"])
def test_repository_copies_match_the_published_files(name):
    assert (SCHEDULES / name).read_bytes() == (PUBLISHED_SCHEDULES / name).read_bytes()


@pytest.mark.django_db
@time_machine.travel(datetime(2026, 11, 29, 12, tzinfo=UTC), tick=False)
def test_imports_2024_schedule_into_a_fresh_database(schedule_2024):
    assert not Course.objects.exists()
    output = run_import(schedule_2024)
    assert "15 created" in output
    assert Offering.objects.count() == 15
    assert Session.objects.count() == 30
    course = Course.objects.get()
    assert course.slug == "cit-support-training-911"
    assert course.tuition_cents == 25000
    assert Offering.objects.filter(part_of_day="evening").count() == 7
    assert set(Offering.objects.values_list("status", flat=True)) == {"published"}
    # "November 7-8 (evening class)" has no year: 2024 from its neighbours; MST after Nov 3.
    assert sessions_of(date(2024, 11, 7), "evening") == [
        (utc(2024, 11, 7, 23), utc(2024, 11, 8, 3)),
        (utc(2024, 11, 8, 23), utc(2024, 11, 9, 3)),
    ]
    # "June 6-7, 2024 (evening class)", 4–8 pm MDT.
    assert sessions_of(date(2024, 6, 6), "evening")[0] == (utc(2024, 6, 6, 22), utc(2024, 6, 7, 2))


@pytest.mark.django_db
@time_machine.travel(datetime(2026, 11, 29, 12, tzinfo=UTC), tick=False)
def test_2027_schedule_across_both_dst_switches(schedule_2027):
    run_import(schedule_2027)
    assert Offering.objects.count() == 22
    # DST starts March 14, 2027: March 4–5 is MST (UTC−7), March 18–19 is MDT (UTC−6).
    assert sessions_of(date(2027, 3, 4), "evening") == [
        (utc(2027, 3, 4, 23), utc(2027, 3, 5, 3)),
        (utc(2027, 3, 5, 23), utc(2027, 3, 6, 3)),
    ]
    assert sessions_of(date(2027, 3, 18), "day") == [
        (utc(2027, 3, 18, 15), utc(2027, 3, 18, 19)),
        (utc(2027, 3, 19, 15), utc(2027, 3, 19, 19)),
    ]
    # DST ends November 7, 2027: "November 4-5 (evening class)" (no year) is MDT,
    # November 18–19 is MST.
    assert sessions_of(date(2027, 11, 4), "evening") == [
        (utc(2027, 11, 4, 22), utc(2027, 11, 5, 2)),
        (utc(2027, 11, 5, 22), utc(2027, 11, 6, 2)),
    ]
    assert sessions_of(date(2027, 11, 18), "day") == [
        (utc(2027, 11, 18, 16), utc(2027, 11, 18, 20)),
        (utc(2027, 11, 19, 16), utc(2027, 11, 19, 20)),
    ]
    # "September 30 - October 1, 2027 (evening class)" crosses a month.
    assert sessions_of(date(2027, 9, 30), "evening") == [
        (utc(2027, 9, 30, 22), utc(2027, 10, 1, 2)),
        (utc(2027, 10, 1, 22), utc(2027, 10, 2, 2)),
    ]
    first = Offering.objects.get(starts_on=date(2027, 1, 7))
    assert first.registration_opens_at == utc(2026, 11, 29, 12)
    assert first.registration_closes_at == utc(2027, 1, 7, 23) - (first.course.registration_lead)


@pytest.mark.django_db
def test_reimport_creates_nothing(schedule_2027):
    run_import(schedule_2027)
    output = run_import(schedule_2027)
    assert "0 created, 0 updated, 22 skipped, 0 in conflict" in output
    assert Offering.objects.count() == 22
    assert Session.objects.count() == 44


@pytest.mark.django_db
def test_conflicts_are_reported_and_left_alone_unless_update(tmp_path, schedule_2027):
    run_import(schedule_2027)
    moved = schedule_2027.read_text().replace(
        "January 21-22, 2027\n\n(9:00 am - 1:00 pm MT)",
        "January 21-22, 2027\n\n(10:00 am - 2:00 pm MT)",
    )
    assert moved != schedule_2027.read_text()
    path = write(tmp_path, moved)
    before = sessions_of(date(2027, 1, 21), "day")
    session_ids = list(
        Offering.objects.get(starts_on=date(2027, 1, 21)).sessions.values_list("pk", flat=True)
    )

    output = run_import(path)
    assert "1 in conflict" in output
    assert "January 21-22, 2027 (session times differ)" in output
    assert sessions_of(date(2027, 1, 21), "day") == before

    output = run_import(path, "--update")
    assert "1 updated" in output
    assert sessions_of(date(2027, 1, 21), "day") == [
        (utc(2027, 1, 21, 17), utc(2027, 1, 21, 21)),
        (utc(2027, 1, 22, 17), utc(2027, 1, 22, 21)),
    ]
    offering = Offering.objects.get(starts_on=date(2027, 1, 21))
    # Session rows (and so calendar UIDs) survive a reschedule.
    assert list(offering.sessions.values_list("pk", flat=True)) == session_ids
    assert offering.registration_closes_at == utc(2027, 1, 20, 17)


@pytest.mark.django_db
def test_capacity_is_compared_only_when_given(schedule_2027):
    run_import(schedule_2027, "--capacity", "20")
    assert set(Offering.objects.values_list("capacity", flat=True)) == {20}
    assert "22 skipped" in run_import(schedule_2027)
    assert "22 in conflict" in run_import(schedule_2027, "--capacity", "30")
    assert "22 updated" in run_import(schedule_2027, "--capacity", "30", "--update")
    assert set(Offering.objects.values_list("capacity", flat=True)) == {30}


@pytest.mark.django_db
def test_opens_option(schedule_2027):
    run_import(schedule_2027, "--opens", "2026-12-01T08:00:00-07:00")
    assert set(Offering.objects.values_list("registration_opens_at", flat=True)) == {
        utc(2026, 12, 1, 15)
    }
    with pytest.raises(CommandError, match="needs a UTC offset"):
        run_import(schedule_2027, "--opens", "2026-12-01T08:00:00")


def test_format_variants():
    text = (
        "Upcoming Courses for 2027\n"
        "Times are Mountain Time (MT).\n"
        "July 8\u20139, 2027 (evening class)\n"
        "(4pm \u2013 8pm MDT)\n"
        "Jan 21-22, 2027\n"
        "(9:00 a.m. - 1:00 p.m. MST)\n"
        "December 30 - 31\n"
        "(9am-1pm MT)\n"
    )
    entries = parse_schedule(text)
    assert [(e.first_day, e.part_of_day, e.zone_label) for e in entries] == [
        (date(2027, 7, 8), "evening", "MDT"),
        (date(2027, 1, 21), "day", "MST"),
        (date(2027, 12, 30), "day", "MT"),
    ]
    assert entries[0].starts.hour == 16 and entries[1].ends.hour == 13


def test_year_from_heading_and_rollover():
    entries = parse_schedule(
        "Upcoming Courses for 2028\nMay 4-5\n(9:00 am - 1:00 pm MT)\n"
        "December 7-8, 2028\n(9:00 am - 1:00 pm MT)\nJanuary 4-5\n(9:00 am - 1:00 pm MT)\n"
    )
    assert [e.first_day for e in entries] == [
        date(2028, 5, 4),
        date(2028, 12, 7),
        date(2029, 1, 4),
    ]


ERROR_CASES = [
    ("Courses\nJuen 5-6, 2025\n(9:00 am - 1:00 pm MT)\n", 2, "'Juen' is not a month"),
    ("Courses\n\nJune 5-6, 2025\n\nTuition $250\n", 3, "has no time line"),
    ("June 5-6, 2025\n", 1, "has no time line"),
    ("Courses\n(9:00 am - 1:00 pm MT)\n", 2, "does not follow a date line"),
    ("July 8-9, 2027\n(9:00 am - 1:00 pm MST)\n", 2, "MST contradicts the date"),
    ("January 7-8, 2027\n(9:00 am - 1:00 pm MDT)\n", 2, "MDT contradicts the date"),
    ("June 5-7, 2025\n(9:00 am - 1:00 pm MT)\n", 1, "not two consecutive days"),
    ("June 5, 2025\n(9:00 am - 1:00 pm MT)\n", 1, "not two consecutive days"),
    ("June 5-6, 2025 (evening class)\n(9:00 am - 1:00 pm MT)\n", 1, "says evening class"),
    ("June 31 - July 1, 2025\n(9:00 am - 1:00 pm MT)\n", 1, "is not a real date"),
    ("June 5-6, 2025\n(9:00 am - 1:00 pm ET)\n", 2, "unknown time zone label"),
    ("June 5-6, 2025\n(9:00 am to 1:00 pm MT)\n", 2, "cannot read the time line"),
    ("June 5-6, 2025\n(9:00 am - 2:00 pm MT)\n", 1, "lasts 300 minutes"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "line", "reason"), ERROR_CASES)
def test_errors_name_the_line_and_write_nothing(tmp_path, text, line, reason):
    good = "March 2-3, 2028\n(9:00 am - 1:00 pm MT)\n"  # a valid entry before the bad one
    path = write(tmp_path, good + text)
    with pytest.raises(CommandError) as excinfo:
        run_import(path)
    message = str(excinfo.value)
    assert "nothing imported" in message
    assert f"line {line + 2}: " in message
    assert reason in message
    assert not Offering.objects.exists()
    assert not Course.objects.exists()  # not even the default course


def test_a_year_that_cannot_be_inferred_is_an_error():
    with pytest.raises(ScheduleError, match="line 2: no year in 'June 5-6'"):
        parse_schedule("Upcoming courses\nJune 5-6\n(9:00 am - 1:00 pm MT)\n")


def test_parse_reports_every_problem_at_once():
    with pytest.raises(ScheduleError) as excinfo:
        parse_schedule(
            "Juen 5-6, 2025\n(9:00 am - 1:00 pm MT)\nJuly 8-9, 2027\n(9 am - 1 pm MST)\n"
        )
    assert [n for n, _ in excinfo.value.problems] == [1, 4]


@pytest.mark.django_db
def test_a_file_without_classes_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no classes found"):
        run_import(write(tmp_path, "Upcoming Courses for 2028\n\nTuition $250\n"))
    assert not Offering.objects.exists() and not Course.objects.exists()


@pytest.mark.django_db
def test_unknown_course_and_unreadable_file(tmp_path, schedule_2027):
    with pytest.raises(CommandError, match="no course with slug 'nope'"):
        run_import(schedule_2027, "--course", "nope")
    with pytest.raises(CommandError, match="cannot read"):
        run_import(tmp_path / "missing.txt")
