"""``static/js/localtime.js``: each class time and deadline in Mountain Time, with the visitor's
own time beside it when their device is in another zone, written by the rules of
``courses.timefmt`` (English, 12-hour clock, weekday and month names, zone abbreviation) whatever
the browser's language; the shared vectors written identically in Chromium."""

import json
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from courses import timefmt
from tests.browser.harness import assert_no_script_errors
from tests.factories import make_offering, next_date

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "static" / "js" / "localtime.js"
VECTORS = json.loads((REPO / "tests" / "fixtures" / "time_vectors.json").read_text())
DASH = "\u2013"


def session_texts(page: Page) -> list[str]:
    """The text of each session's time on the page, spaces normalised."""
    return [" ".join(text.split()) for text in page.locator(".session-time").all_inner_texts()]


def long_day(day: date) -> str:
    return f"{timefmt.WEEKDAYS[day.weekday()]}, {timefmt.month_day(day)}"


def march_switch_saturday() -> date:
    """The Saturday before the next US spring-forward Sunday (second Sunday of March) that is
    at least 30 days away."""
    march = next_date(3, 1)
    first_sunday = march + timedelta(days=(6 - march.weekday()) % 7)
    return first_sunday + timedelta(days=6)


@pytest.fixture
def january_evening(course):
    """An evening class next January (MST): 4:00–8:00 pm MT."""
    return make_offering(course, next_date(1, 14), evening=True)


@pytest.fixture
def january_day(course):
    """A day class next January (MST): 9:00 am–1:00 pm MT."""
    return make_offering(course, next_date(1, 20))


@pytest.fixture
def july_day(course):
    """A day class next July (MDT): 9:00 am–1:00 pm MT."""
    return make_offering(course, next_date(7, 15))


@pytest.fixture
def across_the_march_switch(course):
    """An evening class on the Saturday and Sunday of Mountain Time's spring-forward weekend."""
    return make_offering(course, march_switch_saturday(), evening=True)


@pytest.mark.parametrize("where", ["course page", "offering page"])
def test_new_york_sees_its_time_two_hours_after_mountain_time(open_page, january_evening, where):
    url = (
        january_evening.course.get_absolute_url()
        if where == "course page"
        else january_evening.get_absolute_url()
    )
    page = open_page(url, timezone_id="America/New_York")
    texts = session_texts(page)  # the course page may show a class's sessions more than once
    assert len(texts) >= 2
    assert set(texts) == {f"4:00 pm {DASH} 8:00 pm MST (your time: 6:00 pm {DASH} 10:00 pm EST)"}
    assert page.locator(".local-time").first.get_attribute("data-zone") == "America/New_York"
    assert_no_script_errors(page)


@pytest.mark.parametrize("locale", ["es-US", "en-GB", "de-DE"])
def test_the_browsers_language_does_not_change_how_the_time_is_written(
    open_page, january_evening, locale
):
    page = open_page(
        january_evening.get_absolute_url(), timezone_id="America/New_York", locale=locale
    )
    assert (
        session_texts(page)
        == [f"4:00 pm {DASH} 8:00 pm MST (your time: 6:00 pm {DASH} 10:00 pm EST)"] * 2
    )


def test_phoenix_in_july_sees_its_time_one_hour_before_mountain_daylight_time(open_page, july_day):
    page = open_page(july_day.get_absolute_url(), timezone_id="America/Phoenix")
    assert (
        session_texts(page)
        == [f"9:00 am {DASH} 1:00 pm MDT (your time: 8:00 am {DASH} 12:00 pm MST)"] * 2
    )


def test_phoenix_in_january_shares_mountain_standard_time_so_nothing_is_added(
    open_page, january_evening
):
    page = open_page(january_evening.get_absolute_url(), timezone_id="America/Phoenix")
    assert session_texts(page) == [f"4:00 pm {DASH} 8:00 pm MST"] * 2
    assert page.locator(".local-time").count() == 0


def test_denver_sees_mountain_time_only(open_page, january_evening, july_day):
    page = open_page(january_evening.course.get_absolute_url(), timezone_id="America/Denver")
    texts = session_texts(page)
    assert f"4:00 pm {DASH} 8:00 pm MST" in texts and f"9:00 am {DASH} 1:00 pm MDT" in texts
    assert page.locator(".local-time").count() == 0
    assert_no_script_errors(page)


def test_without_javascript_only_mountain_time_is_shown(open_page, january_evening):
    page = open_page(
        january_evening.course.get_absolute_url(),
        timezone_id="America/New_York",
        javascript=False,
    )
    assert set(session_texts(page)) == {f"4:00 pm {DASH} 8:00 pm MST"}
    assert page.locator(".local-time").count() == 0


def test_a_class_on_another_day_for_the_visitor_names_the_day(open_page, january_evening):
    # 4:00 pm MST on January 14 is 8:00 am on January 15 in Tokyo.
    page = open_page(january_evening.get_absolute_url(), timezone_id="Asia/Tokyo")
    days = [january_evening.starts_on + timedelta(days=n) for n in (1, 2)]
    assert session_texts(page) == [
        f"4:00 pm {DASH} 8:00 pm MST (your time: {long_day(day)}, 8:00 am {DASH} 12:00 pm GMT+9)"
        for day in days
    ]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_evening_class_seen_from_london_names_both_dates(open_page, january_evening, viewport):
    page = open_page(
        january_evening.get_absolute_url(), timezone_id="Europe/London", viewport=viewport
    )
    day = january_evening.starts_on
    assert session_texts(page)[0] == (
        f"4:00 pm {DASH} 8:00 pm MST (your time: {long_day(day)}, 11:00 pm {DASH} "
        f"{long_day(day + timedelta(days=1))}, 3:00 am GMT)"
    )


def test_a_day_class_seen_from_kolkata_names_both_dates(open_page, january_day):
    page = open_page(january_day.get_absolute_url(), timezone_id="Asia/Kolkata")
    day = january_day.starts_on
    assert session_texts(page)[0] == (
        f"9:00 am {DASH} 1:00 pm MST (your time: {long_day(day)}, 9:30 pm {DASH} "
        f"{long_day(day + timedelta(days=1))}, 1:30 am GMT+5:30)"
    )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_phoenix_is_told_the_sessions_start_at_different_hours(
    open_page, across_the_march_switch, viewport
):
    page = open_page(
        across_the_march_switch.get_absolute_url(), timezone_id="America/Phoenix", viewport=viewport
    )
    saturday = across_the_march_switch.starts_on
    note = page.locator(".local-hours-note")
    assert note.is_visible()
    assert note.inner_text() == (
        "In your time zone the sessions do not all start at the same hour (a daylight saving "
        f"time change falls between them): {long_day(saturday)}, 4:00 pm; "
        f"{long_day(saturday + timedelta(days=1))}, 3:00 pm MST."
    )
    assert session_texts(page) == [
        f"4:00 pm {DASH} 8:00 pm MST",
        f"4:00 pm {DASH} 8:00 pm MDT (your time: 3:00 pm {DASH} 7:00 pm MST)",
    ]


@pytest.mark.parametrize(
    ("zone", "told"), [("America/New_York", False), ("Pacific/Honolulu", True)]
)
def test_only_zones_whose_gap_to_mountain_time_changes_get_the_note(
    open_page, across_the_march_switch, zone, told
):
    # New York switches with Mountain Time; Honolulu keeps standard time all year.
    page = open_page(across_the_march_switch.get_absolute_url(), timezone_id=zone)
    assert page.locator(".session-time .local-time").count() == 2
    assert page.locator(".local-hours-note").is_visible() is told


def test_the_registration_deadline_shows_the_visitors_weekday_and_time(open_page, january_evening):
    page = open_page(january_evening.get_absolute_url(), timezone_id="Asia/Kolkata")
    closes = january_evening.registration_closes_at
    deadline = page.locator(".moment-time")
    mountain = timefmt.instant_label(closes, january_evening.zone)
    own = timefmt.local_instant_label(closes, january_evening.zone, ZoneInfo("Asia/Kolkata"))
    assert " ".join(deadline.inner_text().split()) == f"{mountain} (your time: {own})"
    local = deadline.locator(".local-time").inner_text()
    assert local.startswith("(your time: ") and "GMT+5:30" in local
    assert_no_script_errors(page)


@pytest.mark.parametrize("timezone_id", ["America/Denver", "Asia/Kolkata"])
def test_every_shared_vector_is_written_by_the_script_as_python_writes_it(open_page, timezone_id):
    # The rules must not depend on the device's own zone; the vectors name the viewer's zone.
    page = open_page(None, timezone_id=timezone_id)
    page.evaluate("window.module = {exports: {}}")
    page.add_script_tag(content=SCRIPT.read_text())
    wrong = page.evaluate(
        """(vectors) => {
          const rules = window.module.exports, zone = vectors.published_zone, wrong = [];
          for (const r of vectors.ranges) {
            const got = rules.localRangeLabel(new Date(r.start), new Date(r.end), zone, r.viewer);
            if (got !== r.viewer_text) wrong.push({r, got});
          }
          for (const r of vectors.instants) {
            const got = rules.localInstantLabel(new Date(r.at), zone, r.viewer);
            if (got !== r.viewer_text) wrong.push({r, got});
          }
          for (const r of vectors.notes) {
            const got = rules.startHoursNote(r.starts.map((s) => new Date(s)), zone, r.viewer);
            if (got !== r.note) wrong.push({r, got});
          }
          return wrong;
        }""",
        VECTORS,
    )
    assert wrong == []
