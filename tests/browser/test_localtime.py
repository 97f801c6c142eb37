"""``static/js/localtime.js``: each class time in Mountain Time, with the visitor's own time
beside it when their device is in another zone."""

from datetime import timedelta

import pytest
from playwright.sync_api import Page

from tests.browser.harness import assert_no_script_errors
from tests.factories import make_offering, next_date

pytestmark = pytest.mark.browser


def session_texts(page: Page) -> list[str]:
    """The text of each session's time on the page, spaces normalised (Chromium writes "6:00 PM"
    with a narrow no-break space)."""
    return [" ".join(text.split()) for text in page.locator(".session-time").all_inner_texts()]


@pytest.fixture
def january_evening(course):
    """An evening class next January (MST): 4:00–8:00 pm MT."""
    return make_offering(course, next_date(1, 14), evening=True)


@pytest.fixture
def july_day(course):
    """A day class next July (MDT): 9:00 am–1:00 pm MT."""
    return make_offering(course, next_date(7, 15))


@pytest.mark.parametrize("where", ["course page", "offering page"])
def test_new_york_sees_its_time_two_hours_after_mountain_time(open_page, january_evening, where):
    url = (
        january_evening.course.get_absolute_url()
        if where == "course page"
        else january_evening.get_absolute_url()
    )
    page = open_page(url, timezone_id="America/New_York")
    assert (
        session_texts(page)
        == ["4:00 pm \u2013 8:00 pm MST (your time: 6:00 PM \u2013 10:00 PM EST)"] * 2
    )
    assert page.locator(".local-time").first.get_attribute("data-zone") == "America/New_York"
    assert_no_script_errors(page)


def test_phoenix_in_july_sees_its_time_one_hour_before_mountain_daylight_time(open_page, july_day):
    page = open_page(july_day.get_absolute_url(), timezone_id="America/Phoenix")
    assert (
        session_texts(page)
        == ["9:00 am \u2013 1:00 pm MDT (your time: 8:00 AM \u2013 12:00 PM MST)"] * 2
    )


def test_phoenix_in_january_shares_mountain_standard_time_so_nothing_is_added(
    open_page, january_evening
):
    page = open_page(january_evening.get_absolute_url(), timezone_id="America/Phoenix")
    assert session_texts(page) == ["4:00 pm \u2013 8:00 pm MST"] * 2
    assert page.locator(".local-time").count() == 0


def test_denver_sees_mountain_time_only(open_page, january_evening, july_day):
    page = open_page(january_evening.course.get_absolute_url(), timezone_id="America/Denver")
    assert (
        session_texts(page)
        == ["4:00 pm \u2013 8:00 pm MST"] * 2 + ["9:00 am \u2013 1:00 pm MDT"] * 2
    )
    assert page.locator(".local-time").count() == 0
    assert_no_script_errors(page)


def test_without_javascript_only_mountain_time_is_shown(open_page, january_evening):
    page = open_page(
        january_evening.course.get_absolute_url(),
        timezone_id="America/New_York",
        javascript=False,
    )
    assert session_texts(page) == ["4:00 pm \u2013 8:00 pm MST"] * 2
    assert page.locator(".local-time").count() == 0


def test_a_class_on_another_day_for_the_visitor_names_the_day(open_page, january_evening):
    # 4:00 pm MST on January 14 is 8:00 am on January 15 in Tokyo.
    page = open_page(january_evening.get_absolute_url(), timezone_id="Asia/Tokyo")
    days = [january_evening.starts_on + timedelta(days=n) for n in (1, 2)]
    assert session_texts(page) == [
        f"4:00 pm \u2013 8:00 pm MST (your time: {day:%a, %b} {day.day}, "
        "8:00 AM \u2013 12:00 PM GMT+9)"
        for day in days
    ]
