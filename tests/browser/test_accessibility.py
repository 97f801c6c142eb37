"""Accessibility of the public pages in a real browser: axe-core, keyboard use, phone width,
and nothing loaded from another origin."""

from datetime import date

import pytest
from playwright.sync_api import expect

from courses.models import Offering
from tests.browser.harness import (
    VIEWPORTS,
    assert_accessible,
    assert_local_only,
    assert_no_script_errors,
)
from tests.factories import make_offering, next_date

pytestmark = pytest.mark.browser
# These pages are clean: hold them to moderate problems (e.g. content outside landmarks) too.
STRICT = ("moderate", "serious", "critical")


@pytest.fixture
def offering(course) -> Offering:
    """An upcoming evening class, with a day class, a cancelled class and a past class beside it
    so the course page shows every kind of entry."""
    make_offering(course, next_date(7, 15))
    make_offering(course, next_date(2, 4), status=Offering.Status.CANCELLED)
    make_offering(course, date(2024, 6, 6), evening=True)
    return make_offering(course, next_date(1, 14), evening=True)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("which", ["course page", "offering page"])
def test_page_passes_axe_fits_the_screen_and_loads_only_local_files(
    open_page, offering, which, viewport
):
    course_page = which == "course page"
    url = offering.course.get_absolute_url() if course_page else offering.get_absolute_url()
    # New York: the local-time text the script adds is checked too.
    page = open_page(url, viewport=viewport, timezone_id="America/New_York")
    expect(page.locator(".local-time").first).to_be_visible()
    assert_accessible(page, impacts=STRICT)
    assert_local_only(page)
    assert_no_script_errors(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]


def test_skip_link_is_the_first_tab_stop_and_jumps_to_the_content(open_page, offering):
    page = open_page(offering.course.get_absolute_url(), viewport="phone")
    skip = page.get_by_role("link", name="Skip to main content")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 20  # shown when focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    # The header's links are skipped: the first stop is the jump to the next open class.
    jump = page.locator("main a.next-open-link").first
    expect(jump).to_be_focused()
    assert jump.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("Enter")  # class-filter.js moves the focus to that class's card
    card = page.locator(f"main {jump.get_attribute('href')}")
    expect(card).to_be_focused()
    assert card.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [("/", 200, "Courses"), ("/courses/no-such-course/", 404, "Page not found")],
)
def test_course_list_and_not_found_pages_pass_axe(
    open_page, course, path, status, heading, viewport
):
    page = open_page(path, viewport=viewport, status=status)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_accessible(page, impacts=STRICT)
    assert_local_only(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
