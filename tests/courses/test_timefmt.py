"""``courses.timefmt``: the one set of rules for writing times, across both 2027 daylight saving
switches (March 14 and November 7) and the US zones, and the shared vectors that
``static/js/localtime.js`` must write identically (run here under Node, and in Chromium by
``tests/browser/test_localtime.py``)."""

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from courses import timefmt

REPO = Path(__file__).resolve().parents[2]
VECTORS_PATH = REPO / "tests" / "fixtures" / "time_vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
SCRIPT = REPO / "static" / "js" / "localtime.js"
DENVER = ZoneInfo("America/Denver")
US_ZONES = {
    "America/New_York": ("EST", "EDT"),
    "America/Chicago": ("CST", "CDT"),
    "America/Denver": ("MST", "MDT"),
    "America/Phoenix": ("MST", "MST"),
    "America/Los_Angeles": ("PST", "PDT"),
    "Pacific/Honolulu": ("HST", "HST"),
    "America/Anchorage": ("AKST", "AKDT"),
}


def mt(*args: int) -> datetime:
    return datetime(*args, tzinfo=DENVER)


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- the zone's name ----------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "names"), US_ZONES.items())
def test_each_us_zone_is_named_by_its_letters_in_winter_and_summer(zone, names):
    winter = datetime(2027, 1, 15, 18, tzinfo=UTC).astimezone(ZoneInfo(zone))
    summer = datetime(2027, 7, 15, 18, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert (timefmt.zone_abbreviation(winter), timefmt.zone_abbreviation(summer)) == names


@pytest.mark.parametrize(
    ("zone", "winter", "summer"),
    [
        ("Europe/London", "GMT", "GMT+1"),
        ("Asia/Kolkata", "GMT+5:30", "GMT+5:30"),
        ("Asia/Kathmandu", "GMT+5:45", "GMT+5:45"),
        ("America/St_Johns", "GMT-3:30", "GMT-2:30"),
        # Letters the zone database uses that mean something else to a US reader.
        ("Asia/Shanghai", "GMT+8", "GMT+8"),
        ("America/Havana", "GMT-5", "GMT-4"),
        ("Australia/Adelaide", "GMT+10:30", "GMT+9:30"),
    ],
)
def test_other_zones_are_named_by_their_offset_from_gmt(zone, winter, summer):
    january = datetime(2027, 1, 15, 18, tzinfo=UTC).astimezone(ZoneInfo(zone))
    july = datetime(2027, 7, 15, 18, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert (timefmt.zone_abbreviation(january), timefmt.zone_abbreviation(july)) == (
        winter,
        summer,
    )


# --- Mountain Time across the 2027 switches ---------------------------------------------


def test_the_march_switch_moves_mountain_time_from_mst_to_mdt_at_2_am():
    assert timefmt.instant_label(datetime(2027, 3, 14, 8, 59, tzinfo=UTC), DENVER) == (
        "Sunday, March 14, 2027, 1:59 am MST"
    )
    assert timefmt.instant_label(datetime(2027, 3, 14, 9, 0, tzinfo=UTC), DENVER) == (
        "Sunday, March 14, 2027, 3:00 am MDT"
    )


def test_the_november_switch_repeats_1_30_am_once_in_mdt_and_once_in_mst():
    first = timefmt.instant_label(datetime(2027, 11, 7, 7, 30, tzinfo=UTC), DENVER)
    second = timefmt.instant_label(datetime(2027, 11, 7, 8, 30, tzinfo=UTC), DENVER)
    assert (first, second) == (
        "Sunday, November 7, 2027, 1:30 am MDT",
        "Sunday, November 7, 2027, 1:30 am MST",
    )


def test_a_session_during_the_november_switch_names_both_abbreviations():
    start, end = datetime(2027, 11, 7, 6, tzinfo=UTC), datetime(2027, 11, 7, 10, tzinfo=UTC)
    assert timefmt.time_range_label(start, end, DENVER) == "12:00 am MDT \u2013 3:00 am MST"


@pytest.mark.parametrize(
    ("zone", "saturday", "sunday"),
    [
        ("America/New_York", "6:00 pm \u2013 10:00 pm EST", "6:00 pm \u2013 10:00 pm EDT"),
        ("America/Chicago", "5:00 pm \u2013 9:00 pm CST", "5:00 pm \u2013 9:00 pm CDT"),
        ("America/Denver", "", ""),
        ("America/Phoenix", "", "3:00 pm \u2013 7:00 pm MST"),
        ("America/Los_Angeles", "3:00 pm \u2013 7:00 pm PST", "3:00 pm \u2013 7:00 pm PDT"),
        ("Pacific/Honolulu", "1:00 pm \u2013 5:00 pm HST", "12:00 pm \u2013 4:00 pm HST"),
        ("America/Anchorage", "2:00 pm \u2013 6:00 pm AKST", "2:00 pm \u2013 6:00 pm AKDT"),
    ],
)
def test_an_evening_class_across_the_march_switch_in_each_us_zone(zone, saturday, sunday):
    viewer = ZoneInfo(zone)
    sessions = [
        (mt(2027, 3, 13, 16), mt(2027, 3, 13, 20)),
        (mt(2027, 3, 14, 16), mt(2027, 3, 14, 20)),
    ]
    assert [timefmt.local_range_label(s, e, DENVER, viewer) for s, e in sessions] == [
        saturday,
        sunday,
    ]
    assert [timefmt.time_range_label(s, e, DENVER) for s, e in sessions] == [
        "4:00 pm \u2013 8:00 pm MST",
        "4:00 pm \u2013 8:00 pm MDT",
    ]


@pytest.mark.parametrize(
    ("zone", "saturday", "sunday"),
    [
        ("America/New_York", "11:00 am \u2013 3:00 pm EDT", "11:00 am \u2013 3:00 pm EST"),
        ("America/Chicago", "10:00 am \u2013 2:00 pm CDT", "10:00 am \u2013 2:00 pm CST"),
        ("America/Denver", "", ""),
        ("America/Phoenix", "8:00 am \u2013 12:00 pm MST", ""),
        ("America/Los_Angeles", "8:00 am \u2013 12:00 pm PDT", "8:00 am \u2013 12:00 pm PST"),
        ("Pacific/Honolulu", "5:00 am \u2013 9:00 am HST", "6:00 am \u2013 10:00 am HST"),
        ("America/Anchorage", "7:00 am \u2013 11:00 am AKDT", "7:00 am \u2013 11:00 am AKST"),
    ],
)
def test_a_day_class_across_the_november_switch_in_each_us_zone(zone, saturday, sunday):
    viewer = ZoneInfo(zone)
    sessions = [
        (mt(2027, 11, 6, 9), mt(2027, 11, 6, 13)),
        (mt(2027, 11, 7, 9), mt(2027, 11, 7, 13)),
    ]
    assert [timefmt.local_range_label(s, e, DENVER, viewer) for s, e in sessions] == [
        saturday,
        sunday,
    ]


# --- the viewer's dates ------------------------------------------------------------------


def test_an_evening_class_seen_from_london_names_both_dates():
    text = timefmt.local_range_label(
        mt(2027, 1, 7, 16), mt(2027, 1, 7, 20), DENVER, ZoneInfo("Europe/London")
    )
    assert text == "Thursday, January 7, 11:00 pm \u2013 Friday, January 8, 3:00 am GMT"


def test_a_day_class_seen_from_india_names_both_dates():
    text = timefmt.local_range_label(
        mt(2027, 1, 7, 9), mt(2027, 1, 7, 13), DENVER, ZoneInfo("Asia/Kolkata")
    )
    assert text == "Thursday, January 7, 9:30 pm \u2013 Friday, January 8, 1:30 am GMT+5:30"


def test_a_session_on_the_next_day_for_the_viewer_names_that_day_once():
    text = timefmt.local_range_label(
        mt(2027, 1, 7, 16), mt(2027, 1, 7, 20), DENVER, ZoneInfo("Asia/Tokyo")
    )
    assert text == "Friday, January 8, 8:00 am \u2013 12:00 pm GMT+9"


def test_the_year_is_written_when_the_viewer_is_already_in_the_next_one():
    text = timefmt.local_range_label(
        mt(2027, 12, 31, 16), mt(2027, 12, 31, 20), DENVER, ZoneInfo("Europe/London")
    )
    assert text == ("Friday, December 31, 11:00 pm \u2013 Saturday, January 1, 2028, 3:00 am GMT")


def test_a_switch_in_the_viewers_zone_during_a_session_names_both_abbreviations():
    text = timefmt.local_range_label(
        mt(2027, 3, 27, 16), mt(2027, 3, 27, 20), DENVER, ZoneInfo("Europe/London")
    )
    assert text == "Saturday, March 27, 10:00 pm GMT \u2013 Sunday, March 28, 3:00 am GMT+1"


def test_a_seat_hold_deadline_carries_the_viewers_weekday_and_time():
    hold = datetime(2026, 12, 2, 6, 53, tzinfo=UTC)
    assert timefmt.instant_label(hold, DENVER) == "Tuesday, December 1, 2026, 11:53 pm MST"
    new_york = timefmt.local_instant_label(hold, DENVER, ZoneInfo("America/New_York"))
    assert new_york == "Wednesday, December 2, 1:53 am EST"
    assert timefmt.with_viewer("Tuesday, December 1, 2026, 11:53 pm MST", new_york) == (
        "Tuesday, December 1, 2026, 11:53 pm MST (your time: Wednesday, December 2, 1:53 am EST)"
    )


def test_a_deadline_on_the_same_day_still_names_the_viewers_weekday():
    closes = mt(2027, 1, 6, 16)
    assert timefmt.local_instant_label(closes, DENVER, ZoneInfo("Pacific/Honolulu")) == (
        "Wednesday, January 6, 1:00 pm HST"
    )


@pytest.mark.parametrize("zone", ["America/Denver", "America/Phoenix", "America/Edmonton"])
def test_nothing_is_added_where_the_viewers_time_reads_the_same(zone):
    viewer = ZoneInfo(zone)
    assert timefmt.local_instant_label(mt(2027, 1, 6, 16), DENVER, viewer) == ""
    assert timefmt.local_range_label(mt(2027, 1, 7, 16), mt(2027, 1, 7, 20), DENVER, viewer) == ""
    assert timefmt.with_viewer("4:00 pm MST", "") == "4:00 pm MST"


# --- sessions starting at different local hours -----------------------------------------


def test_phoenix_is_told_that_a_class_across_the_march_switch_starts_an_hour_earlier_on_sunday():
    starts = [mt(2027, 3, 13, 16), mt(2027, 3, 14, 16)]
    assert timefmt.start_hours_note(starts, DENVER, ZoneInfo("America/Phoenix")) == (
        "In your time zone the sessions do not all start at the same hour (a daylight saving "
        "time change falls between them): Saturday, March 13, 4:00 pm; Sunday, March 14, "
        "3:00 pm MST."
    )


@pytest.mark.parametrize(
    "zone", ["America/New_York", "America/Chicago", "America/Denver", "America/Anchorage"]
)
def test_zones_that_switch_with_mountain_time_get_no_note(zone):
    starts = [mt(2027, 3, 13, 16), mt(2027, 3, 14, 16)]
    assert timefmt.start_hours_note(starts, DENVER, ZoneInfo(zone)) == ""


def test_london_is_told_about_the_november_switch_it_does_not_share():
    starts = [mt(2027, 11, 6, 9), mt(2027, 11, 7, 9)]
    assert timefmt.start_hours_note(starts, DENVER, ZoneInfo("Europe/London")).endswith(
        "Saturday, November 6, 3:00 pm; Sunday, November 7, 4:00 pm GMT."
    )


def test_the_note_is_not_given_when_the_viewer_starts_at_one_hour_anyway():
    # MT starts an hour later on Sunday, exactly cancelling the switch for Phoenix.
    starts = [mt(2027, 3, 13, 16), mt(2027, 3, 14, 17)]
    assert timefmt.start_hours_note(starts, DENVER, ZoneInfo("America/Phoenix")) == ""


def test_date_range_labels_are_unchanged():
    assert timefmt.date_range_label(datetime(2027, 9, 30).date(), datetime(2027, 10, 1).date()) == (
        "September 30 \u2013 October 1, 2027"
    )
    assert timefmt.day_label(mt(2027, 1, 7, 16), DENVER) == "Thursday, January 7, 2027"


# --- the shared vectors -----------------------------------------------------------------


@pytest.mark.parametrize("row", VECTORS["ranges"], ids=lambda r: f"{r['start']}-{r['viewer']}")
def test_range_vectors_in_python(row):
    start, end, viewer = utc(row["start"]), utc(row["end"]), ZoneInfo(row["viewer"])
    assert timefmt.session_label(start, end, DENVER) == row["published_text"]
    assert timefmt.local_range_label(start, end, DENVER, viewer) == row["viewer_text"]


@pytest.mark.parametrize("row", VECTORS["instants"], ids=lambda r: f"{r['at']}-{r['viewer']}")
def test_instant_vectors_in_python(row):
    moment, viewer = utc(row["at"]), ZoneInfo(row["viewer"])
    assert timefmt.instant_label(moment, DENVER) == row["published_text"]
    assert timefmt.local_instant_label(moment, DENVER, viewer) == row["viewer_text"]


@pytest.mark.parametrize("row", VECTORS["notes"], ids=lambda r: f"{r['starts'][0]}-{r['viewer']}")
def test_note_vectors_in_python(row):
    starts = [utc(value) for value in row["starts"]]
    assert timefmt.start_hours_note(starts, DENVER, ZoneInfo(row["viewer"])) == row["note"]


# Loads localtime.js as a CommonJS module and prints every vector it writes differently.
NODE_RUNNER = """
const rules = require(process.argv[1]);
const vectors = require(process.argv[2]);
const zone = vectors.published_zone;
const wrong = [];
for (const r of vectors.ranges) {
  const got = rules.localRangeLabel(new Date(r.start), new Date(r.end), zone, r.viewer);
  if (got !== r.viewer_text) wrong.push({vector: r, got});
}
for (const r of vectors.instants) {
  const got = rules.localInstantLabel(new Date(r.at), zone, r.viewer);
  if (got !== r.viewer_text) wrong.push({vector: r, got});
}
for (const r of vectors.notes) {
  const got = rules.startHoursNote(r.starts.map((s) => new Date(s)), zone, r.viewer);
  if (got !== r.note) wrong.push({vector: r, got});
}
console.log(JSON.stringify(wrong));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_script_writes_every_vector_as_python_does():
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "-e", NODE_RUNNER, str(SCRIPT), str(VECTORS_PATH)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []


def test_the_vectors_cover_both_switches_the_us_zones_and_crossing_midnight():
    viewers = {row["viewer"] for row in VECTORS["ranges"]}
    assert set(US_ZONES) | {"Europe/London", "Asia/Kolkata"} <= viewers
    starts = {row["start"][:10] for row in VECTORS["ranges"]}
    assert {"2027-03-13", "2027-03-14", "2027-11-06", "2027-11-07"} <= starts
    assert any(
        " \u2013 " in r["viewer_text"] and r["viewer_text"].count(",") >= 3
        for r in VECTORS["ranges"]
    )
    assert any(row["note"] for row in VECTORS["notes"])
