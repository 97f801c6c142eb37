"""In a real browser: register with a mistake, keep the values, fix it, confirm the work email
from the message that was sent, and reach "eligible"."""

import pytest
from playwright.sync_api import expect

from registrations.models import AgencyDomain, Registration
from tests.browser.harness import assert_accessible
from tests.registrations.helpers import link_from_outbox, open_offering, register_url


@pytest.fixture
def offering(course):
    AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")
    return open_offering(course)


def fill(page, **values: str) -> None:
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)


def test_register_fix_an_error_confirm_and_become_eligible(open_page, offering, live_server):
    page = open_page(register_url(offering), viewport="phone", timezone_id="America/Chicago")
    assert_accessible(page)
    fill(
        page,
        **{
            "First name*": "José",
            "Last name*": "Núñez",
            "Another email for course messages (optional)": "jose.nunez@@denver911.example.gov",
            "Emergency communications center (PSAP) name*": "Denver 911",
            "City*": "Denver",
            "Work email at your agency*": "jose.nunez@denver911.example.gov",
            "Supervisor's name*": "Sam Super",
            "Supervisor's work email*": "sam@denver911.example.gov",
        },
    )
    page.get_by_label("Your role*").select_option("dispatcher")
    page.get_by_label("State*").select_option("CO")
    page.get_by_label("I am currently employed by an emergency call center", exact=False).check()
    page.get_by_label("I understand the class is live online", exact=False).check()
    page.get_by_label("I accept the", exact=False).check()
    page.get_by_role("button", name="Register").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("1 thing to fix before we can register you")
    assert page.get_by_label("First name*").input_value() == "José"
    assert page.get_by_label("City*").input_value() == "Denver"
    assert page.get_by_label("State*").input_value() == "CO"
    assert page.get_by_label("I accept the", exact=False).is_checked()
    assert_accessible(page)
    summary.get_by_role("link").click()
    expect(page.get_by_label("Another email for course messages (optional)")).to_be_focused()
    page.get_by_label("Another email for course messages (optional)").fill(
        "jose.nunez+cit@denver911.example.gov"
    )
    page.get_by_role("button", name="Register").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    registration = Registration.objects.get()
    assert registration.time_zone == "America/Chicago"  # from the browser's Intl API
    page.goto(link_from_outbox("jose.nunez@denver911.example.gov", "/r/confirm/"))
    page.get_by_role("button", name="Confirm my work email").click()
    page.get_by_text("Thank you: your work email is confirmed.").wait_for()
    assert page.locator("[data-state]").first.get_attribute("data-state") == "eligible"
    assert_accessible(page)
    registration.refresh_from_db()
    assert registration.state == Registration.State.ELIGIBLE
