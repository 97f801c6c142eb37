"""``registrations.attendance.reports`` and ``minutes``: the shared Zoom and Teams samples, and
reports written other ways (encodings, delimiters, date orders, zones)."""

import codecs
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registrations.attendance.matching import group_rows, name_key
from registrations.attendance.minutes import attended_minutes, attended_span
from registrations.attendance.reports import TEAMS, ZOOM, ReportError, decode, read_report

DATA = Path(__file__).resolve().parents[3] / "registrations" / "attendance" / "demo"
MT = ZoneInfo("America/Denver")
ZOOM_DAY_1 = (DATA / "zoom-participants-2024-12-12.csv").read_bytes()
TEAMS_DAY_2 = (DATA / "teams-attendance-2024-12-13.csv").read_bytes()
DAY_1 = (datetime(2024, 12, 12, 9, tzinfo=MT), datetime(2024, 12, 12, 13, tzinfo=MT))
DAY_2 = (datetime(2024, 12, 13, 9, tzinfo=MT), datetime(2024, 12, 13, 13, tzinfo=MT))


def minutes_by_name(data: bytes, session) -> dict[str, object]:
    report = read_report(data, MT)
    return {
        p.name: attended_minutes([(r.joined_at, r.left_at) for r in p.rows], *session)
        for p in group_rows(r for r in report.rows if not r.host)
    }


def test_the_zoom_sample_for_day_1():
    report = read_report(ZOOM_DAY_1, MT)
    assert report.platform == ZOOM and report.encoding == "utf-8"
    assert report.title == "CIT Support Training for 911 - Day 1"
    assert [row.name for row in report.rows if row.host] == ["Lead Trainer"]  # the organiser
    minutes = minutes_by_name(ZOOM_DAY_1, DAY_1)
    # Two rows: 9:00–10:31:44 and 10:34:10–13:00 (not Zoom's 94 + 146).
    assert str(minutes["Ben Sample (Dispatch)"]) == "237.6"
    assert str(minutes["Ana Test"]) == "240.0"  # joined early, left after 13:00: clipped
    assert str(minutes["Dev Placeholder"]) == "75.0"  # the early leaver
    assert str(minutes["iPhone (2)"]) == "1.2"
    cara = next(row for row in report.rows if row.name == "Cara Example")
    assert cara.email == "" and cara.guest
    assert cara.joined_at == datetime(2024, 12, 12, 16, 2, 33, tzinfo=UTC)


def test_the_teams_sample_for_day_2():
    report = read_report(TEAMS_DAY_2, MT)
    assert report.platform == TEAMS and report.encoding == "utf-16"
    assert report.title == "CIT Support Training for 911 - Day 2"
    assert [row.name for row in report.rows if row.host] == ["Lead Trainer"]  # Organizer
    # The per-join table ("3. In-Meeting Activities") is read, not the summary per person.
    assert sum(1 for row in report.rows if row.name == "Jose Nunez") == 2
    minutes = minutes_by_name(TEAMS_DAY_2, DAY_2)
    assert str(minutes["Ben Sample"]) == "240.0"  # two rows overlapping by 35 s: counted once
    assert str(minutes["Jose Nunez"]) == "224.5"  # a 15.5-minute gap
    assert "Dev Placeholder" not in minutes  # absent on day 2


def teams_text(rows: list[tuple[str, str, str, str]]) -> str:
    """A Teams report with the given (name, email, join, leave) rows, times as Teams writes."""
    lines = [
        "1. Summary", "Meeting title\tDay 1 again", "", "2. Participants",
        "Name\tFirst Join\tLast Leave\tIn-Meeting Duration\tEmail\tRole", "",
        "3. In-Meeting Activities", "Name\tJoin Time\tLeave Time\tDuration\tEmail\tRole",
    ]  # fmt: skip
    for name, email, joined, left in rows:
        lines.append(f"{name}\t{joined}\t{left}\t1h\t{email}\tAttendee")
    return "\r\n".join(lines) + "\r\n"


def as_teams(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%m/%d/%Y %I:%M:%S %p")
    return f"{moment:%m/%d/%y}, {moment.hour % 12 or 12}:{moment:%M:%S} {moment:%p}"


def test_day_1_written_as_a_teams_report_gives_the_same_minutes_as_the_zoom_file():
    zoom = read_report(ZOOM_DAY_1, MT)
    rows = [
        (row.name, row.email, as_teams(f"{row.joined_at:%m/%d/%Y %I:%M:%S %p}"),
         as_teams(f"{row.left_at:%m/%d/%Y %I:%M:%S %p}"))
        for row in zoom.rows if not row.host
    ]  # fmt: skip
    data = codecs.BOM_UTF16_LE + teams_text(rows).encode("utf-16-le")
    assert minutes_by_name(data, DAY_1) == minutes_by_name(ZOOM_DAY_1, DAY_1)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        lambda text: text.encode("cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "cp1252"],
)
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_encodings_and_delimiters_are_detected(encode, delimiter):
    text = delimiter.join(["Name", "User Email", "Join Time", "Leave Time"]) + "\n"
    text += delimiter.join(["José Núñez", "jose@x.example", "12/12/2024 09:00:00 AM",
                            "12/12/2024 10:00:00 AM"]) + "\n"  # fmt: skip
    [row] = read_report(encode(text), MT).rows
    assert row.name == "José Núñez" and row.email == "jose@x.example"
    assert row.left_at - row.joined_at == timedelta(hours=1)


def test_day_first_dates_iso_times_and_explicit_zones():
    text = (
        "Name,Email,Join Time,Leave Time\n"
        "A,a@x.example,13/12/2024 09:00,13/12/2024 10:00\n"  # 13 cannot be a month: day first
        "B,b@x.example,2024-12-13T16:00:00Z,2024-12-13T17:00:00+00:00\n"
        "C,c@x.example,12/12/2024 16:00:00 UTC,12/12/2024 17:00:00 UTC\n"
    )
    a, b, c = read_report(text.encode(), MT).rows
    assert a.joined_at == datetime(2024, 12, 13, 9, tzinfo=MT)
    assert b.joined_at == datetime(2024, 12, 13, 16, tzinfo=UTC) == b.joined_at.astimezone(UTC)
    assert c.left_at == datetime(2024, 12, 12, 17, tzinfo=UTC)


def test_a_summary_time_zone_is_used():
    text = (
        "Time zone\tAmerica/New_York\n\nName\tJoin Time\tLeave Time\n"
        "A\t12/12/2024 11:00:00 AM\t12/12/2024 12:00:00 PM\n"
    )
    [row] = read_report(text.encode(), MT).rows
    assert row.joined_at == datetime(2024, 12, 12, 9, tzinfo=MT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00\xff\x00\xfe" * 50 + b"\x89PNG", "No table of participants"),
        (b"Name,Email\nAna,a@x.example\n", "No table of participants"),
        (b"Name,Join Time,Leave Time\nAna,yesterday,today\n", "Line 2: cannot read"),
        (b"Name,Join Time,Leave Time\nAna,12/12/2024 10:00 AM,12/12/2024 09:00 AM\n", "Line 2"),
    ],
)
def test_unreadable_reports_say_why_and_where(data, message):
    with pytest.raises(ReportError) as raised:
        read_report(data, MT)
    assert message in str(raised.value)


def test_decode_refuses_bytes_over_the_limit():
    with pytest.raises(ReportError, match="larger than"):
        decode(b"a" * (5 * 1024 * 1024 + 1))


@given(st.binary(max_size=2000))
def test_any_bytes_are_read_or_refused_with_a_report_error(data):
    try:
        read_report(data, MT)
    except ReportError:
        pass


@given(st.text(max_size=300))
def test_any_text_in_a_report_cell_is_read_or_refused(name):
    text = (
        "Name\tJoin Time\tLeave Time\n"
        + name.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        + "\t12/12/2024 09:00 AM\t12/12/2024 10:00 AM\n"
    )
    try:
        read_report(text.encode("utf-8", "surrogatepass"), MT)
    except (ReportError, UnicodeEncodeError):
        pass


def test_minutes_are_the_union_clipped_to_the_session():
    start, end = DAY_1
    at = lambda h, m=0: start.replace(hour=h, minute=m)  # noqa: E731
    assert attended_span([], start, end) == timedelta()
    assert attended_span([(at(8), at(14))], start, end) == timedelta(hours=4)
    assert attended_span([(at(9), at(11)), (at(10), at(12))], start, end) == timedelta(hours=3)
    assert attended_span([(at(10), at(11)), (at(9), at(9, 30))], start, end) == timedelta(
        minutes=90
    )
    assert attended_span([(at(7), at(8)), (at(14), at(15))], start, end) == timedelta()
    assert attended_span([(at(11), at(10))], start, end) == timedelta()  # backwards: nothing


@given(st.lists(st.tuples(st.integers(-120, 400), st.integers(0, 300)), max_size=12))
def test_minutes_never_exceed_the_session_nor_the_sum(pairs):
    start, end = DAY_1
    intervals = [
        (start + timedelta(minutes=a), start + timedelta(minutes=a + length)) for a, length in pairs
    ]
    span = attended_span(intervals, start, end)
    assert timedelta() <= span <= end - start
    assert span <= sum((b - a for a, b in intervals), timedelta())
    assert attended_span(list(reversed(intervals)), start, end) == span


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Núñez, José (Dispatch)", "jose nunez"),
        ("Zoë Ångström", "zoe angstrom"),
        ("  BEN   sample ", "ben sample"),
        ("Cara Example (Guest)", "cara example"),
        ("iPhone (2)", "iphone"),
        ("王小明", "王小明"),
    ],
)
def test_name_keys(name, key):
    assert name_key(name) == key
