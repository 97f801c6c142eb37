"""The call-taker's path in a real browser, on a phone (390×844) and a desktop, from New York,
Honolulu, Phoenix, London and Kolkata: the course page puts the facts (tuition first) within
the first screen and jumps to the next open day and evening class; the form explains itself,
checks the work email without a round trip, focuses an error summary whose links focus their
fields, shows a 3:1 focus ring on every control and passes axe in every state; the ticket
shows the meeting link only to a confirmed attendee once it is set."""

import re
from datetime import date

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from courses.models import Offering
from registrations import links
from registrations.models import AgencyDomain, Registration
from tests.browser.harness import VIEWPORTS, assert_accessible, assert_no_script_errors
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import register_url

pytestmark = pytest.mark.browser
ZONES = ["America/New_York", "Pacific/Honolulu", "America/Phoenix", "Europe/London", "Asia/Kolkata"]
VIEWPORT_NAMES = ["phone", "desktop"]
MEETING = "https://meet.example.org/cit-class-42"
S = Registration.State


@pytest.fixture
def schedule(course) -> list[Offering]:
    """A year of classes like the published schedule (day and evening, one a month each), and
    past classes, so the course page is as long as the real one."""
    offerings = []
    for month in range(1, 13):
        offerings.append(make_offering(course, next_date(month, 7)))
        offerings.append(make_offering(course, next_date(month, 21), evening=True))
    for month in range(5, 12):
        offerings.append(make_offering(course, date(2024, month, 14)))
    return offerings


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
@pytest.mark.parametrize("zone", ZONES)
def test_course_page_puts_the_facts_first_and_jumps_to_the_next_open_class(
    open_page, schedule, zone, viewport
):
    course = schedule[0].course
    page = open_page(course.get_absolute_url(), viewport=viewport, timezone_id=zone)
    height = VIEWPORTS[viewport]["height"]
    tuition = page.locator(".fact-tuition").bounding_box()
    assert tuition is not None and tuition["y"] + tuition["height"] <= height, tuition
    facts = page.locator("#facts").bounding_box()
    classes = page.locator("#upcoming-heading").bounding_box()
    assert facts is not None and classes is not None and facts["y"] < classes["y"]
    # Past classes fold into one line.
    past = page.locator("details.past-classes")
    expect(past).not_to_have_attribute("open", "")
    assert (past.bounding_box() or {"height": 999})["height"] < 60
    # The viewer's own time is beside the MT one (the script ran) in every zone here.
    expect(page.locator(".local-time").first).to_be_visible()
    for part in ("day", "evening"):
        jump = page.locator(f'a.next-open-link[data-part="{part}"]')
        jump.click()
        card = page.locator(".offering:focus")
        expect(card).to_have_attribute("data-part", part)
        expect(card).to_have_attribute("data-state", "open")
        box = card.bounding_box()
        assert box is not None and -1 <= box["y"] < height
        first_open = page.locator(f'.offering[data-part="{part}"][data-state="open"]').first
        assert card.get_attribute("id") == first_open.get_attribute("id")
    # The filter: evening classes only, then all again.
    page.get_by_role("button", name="Evening classes").click()
    shown = page.locator(".offering:visible")
    assert shown.count() > 0
    assert set(shown.evaluate_all("els => els.map(e => e.dataset.part)")) == {"evening"}
    expect(page.get_by_role("button", name="Evening classes")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert_accessible(page, impacts=("moderate", "serious", "critical"))
    page.get_by_role("button", name="All classes").click()
    assert set(page.locator(".offering:visible").evaluate_all(
        "els => els.map(e => e.dataset.part)")) == {"day", "evening"}  # fmt: skip
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    assert_no_script_errors(page)


# --- the form ----------------------------------------------------------------------------------


@pytest.fixture
def offering(course) -> Offering:
    AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")
    return make_offering(course, next_date(7, 8))


def _contrast(rgb_a: tuple[float, ...], rgb_b: tuple[float, ...]) -> float:
    def luminance(rgb: tuple[float, ...]) -> float:
        parts = [c / 255 for c in rgb[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(n) for n in re.findall(r"[\d.]+", css)[:3])


def assert_focus_ring(page: Page, selector: str) -> None:
    """The focused control draws a solid outline at least 2 px wide whose colour has 3:1 or
    more against the page's white (WCAG 2.2 focus appearance)."""
    control = page.locator(selector).first
    control.focus()
    style = control.evaluate(
        "el => { const s = getComputedStyle(el); "
        "return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )
    assert style[0] == "solid" and float(style[1].rstrip("px")) >= 2, (selector, style)
    assert _contrast(_rgb(style[2]), (255, 255, 255)) >= 3, (selector, style)


@pytest.mark.parametrize("viewport", VIEWPORT_NAMES)
@pytest.mark.parametrize("zone", ZONES)
def test_the_form_helps_at_every_state_and_passes_axe(open_page, offering, zone, viewport):
    page = open_page(register_url(offering), viewport=viewport, timezone_id=zone)
    how = page.locator(".how-it-works li")
    expect(how).to_have_count(3)
    assert (how.first.bounding_box() or {})["y"] < (
        page.get_by_label("First name*").bounding_box() or {}
    )["y"]
    expect(page.locator("#supervisor-why")).to_contain_text("Why we ask")
    assert_accessible(page)
    for selector in ("#id_first_name", "#id_role", "#id_accept_terms", "#submit-id-register",
                     "#id_accessibility_needs", "main a[href]"):  # fmt: skip
        assert_focus_ring(page, selector)

    # The work email is checked while typing, with no request to the server.
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    work = page.get_by_label("Work email at your agency*")
    check = page.locator("#work-email-check")
    assert "work-email-check" in (work.get_attribute("aria-describedby") or "")
    cases = [
        ("ana.cit@gmail.com", "personal webmail address", "two working days"),
        ("ana@us.yahoo.com", "personal webmail address", "two working days"),
        ("ana@county.example.org", "not an agency domain we know", "two working days"),
        ("ana@dispatch.denver911.example.gov", "known agency domain", "confirmed as soon as"),
    ]
    for address, kind, means in cases:
        work.fill(address)
        expect(check).to_contain_text(kind)
        expect(check).to_contain_text(means)
        assert_accessible(page)
    assert requests == [], requests

    # A failed submit: focus on the summary, which counts the errors; each link focuses its field.
    page.get_by_label("First name*").fill("Ana")
    page.get_by_role("button", name="Register").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    entries = summary.get_by_role("link")
    count = entries.count()
    assert count >= 5
    expect(summary.get_by_role("heading")).to_have_text(
        f"{count} things to fix before we can register you"
    )
    assert_accessible(page)
    for index in range(count):
        link = entries.nth(index)
        target = link.get_attribute("data-field")
        link.click()
        expect(page.locator(f"#{target}")).to_be_focused()
        box = page.locator(f"#{target}").bounding_box()
        assert box is not None and -1 <= box["y"] < VIEWPORTS[viewport]["height"]
    assert_accessible(page)
    assert_no_script_errors(page)


def test_a_webmail_registration_is_told_it_means_a_staff_review(open_page, offering):
    page = open_page(register_url(offering), viewport="phone", timezone_id="America/New_York")
    values = {
        "First name*": "Ana",
        "Last name*": "Test",
        "Emergency communications center (PSAP) name*": "Denver 911",
        "City*": "Denver",
        "Work email at your agency*": "ana.cit@gmail.com",
        "Supervisor's name*": "Sam Super",
        "Supervisor's work email*": "sam@denver911.example.gov",
    }
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Your role*").select_option("call_taker")
    page.get_by_label("State*").select_option("CO")
    for start in ("I am currently employed", "I understand the class", "I accept the"):
        page.get_by_label(start, exact=False).check()
    page.get_by_role("button", name="Register").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    text = page.locator(".what-next").inner_text()
    assert "gmail.com is a personal webmail address" in text
    assert "our staff check your employment by hand, within two working days" in text
    assert "We also ask your supervisor to confirm" in text
    assert Registration.objects.get().email == "ana.cit@gmail.com"  # blank: the work email
    assert_accessible(page)


# --- the ticket --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "meeting_url", "shows_link"),
    [(S.CONFIRMED, MEETING, True), (S.CONFIRMED, "", False), (S.ELIGIBLE, MEETING, False),
     (S.HELD, MEETING, False)],
)  # fmt: skip
@pytest.mark.parametrize("zone", ZONES)
def test_the_meeting_link_shows_only_when_confirmed_and_set(
    open_page, offering, zone, state, meeting_url, shows_link
):
    Offering.objects.filter(pk=offering.pk).update(meeting_url=meeting_url)
    registration = registration_in(state, offering)
    page = open_page(links.manage_path(registration), viewport="phone", timezone_id=zone)
    pages = [page.url, reverse("registrations:payment-page", kwargs={"pk": registration.pk})]
    for path in pages:
        page.goto(path)
        join = page.get_by_role("link", name="Join the class")
        if shows_link:
            expect(join).to_have_attribute("href", MEETING)
        else:
            expect(join).to_have_count(0)
            assert MEETING not in page.content()
        calendar = page.get_by_role("link", name=re.compile("Google Calendar"))
        if state == S.CONFIRMED:
            expect(calendar).to_have_count(2)  # one per session
            expect(page.get_by_text("that one follows any change of times")).to_be_visible()
            expect(page.locator(".prepare")).to_contain_text("quiet place")
            # The refund cut-offs, in MT and in the viewer's own time.
            deadline = page.locator(".refund-steps .moment-time").first
            # Chromium names Kolkata by its older alias, Asia/Calcutta.
            same_zone = re.compile("Asia/(Kolkata|Calcutta)" if zone == "Asia/Kolkata" else zone)
            expect(deadline.locator(".local-time")).to_have_attribute("data-zone", same_zone)
            if not meeting_url:
                expect(page.locator(".meeting-pending")).to_be_visible()
        else:
            expect(calendar).to_have_count(0)
            expect(page.get_by_role("link", name=re.compile(r"\.ics"))).to_have_count(0)
        assert_accessible(page)
    assert_no_script_errors(page)
