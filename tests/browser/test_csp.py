"""The Content-Security-Policy in a real browser, applied (not bypassed as for axe): the public
pages, the registration form and the way to Stripe Checkout run with no violation, and a form
target the policy does not name is refused."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from citreg.settings.base import content_security_policy
from registrations import links
from registrations.models import PolicyPage
from tests.browser.harness import assert_no_csp_violations, page_log
from tests.registrations.helpers import open_offering, register_url
from tests.registrations.stripe_helpers import eligible, running_standin

pytestmark = pytest.mark.browser


@pytest.fixture
def offering(course):
    return open_offering(course)


def test_public_pages_run_their_scripts_and_styles_under_the_policy(open_page, offering):
    # The migration writes the policy pages; a transactional test before this one may have
    # flushed them.
    PolicyPage.objects.get_or_create(slug="terms", defaults={"title": "Terms", "body": "Terms."})
    course = offering.course
    for path in ("/", course.get_absolute_url(), offering.get_absolute_url(), "/policies/terms/"):
        page = open_page(path, timezone_id="America/New_York", enforce_csp=True)
        # The stylesheets applied (the skip link is taken out of the flow by site.css)...
        skip = page.get_by_role("link", name="Skip to main content")
        assert skip.evaluate("el => getComputedStyle(el).position") == "absolute", path
        if path in (course.get_absolute_url(), offering.get_absolute_url()):
            # ...and localtime.js ran: the visitor's own time beside each Mountain Time.
            expect(page.locator(".local-time").first).to_be_visible()
        assert_no_csp_violations(page)


def test_the_register_form_and_its_errors_run_under_the_policy(open_page, offering):
    page = open_page(register_url(offering), timezone_id="America/Chicago", enforce_csp=True)
    # timezone-field.js filled the hidden field with the browser's zone.
    assert page.locator("#id_time_zone").input_value() == "America/Chicago"
    page.get_by_label("First name*").fill("José")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#error-summary")).to_be_focused()  # register-form.js ran
    assert_no_csp_violations(page)


@pytest.fixture
def standin(settings, live_server):
    settings.SITE_URL = live_server.url
    with running_standin(settings, webhook_url=f"{live_server.url}/payments/stripe/webhook/") as s:
        yield s


@pytest.mark.django_db(transaction=True)
def test_the_pay_button_reaches_stripe_checkout_under_the_policy(
    open_page, course, standin, settings
):
    """form-action names the checkout origin: Chromium checks it on the redirect that answers
    the Pay button's POST (as STRIPE_API_BASE=<stand-in> at start-up would configure it)."""
    settings.SECURE_CSP = content_security_policy(standin.base_url)
    registration = eligible(open_offering(course))
    page = open_page(links.manage_path(registration), allow=(standin.base_url,), enforce_csp=True)
    page.get_by_role("button", name="Pay $250 and take a seat").click()
    page.wait_for_url(f"{standin.base_url}/**")
    expect(page.get_by_role("button", name="Pay (succeeds)")).to_be_visible()
    assert_no_csp_violations(page)


@pytest.mark.django_db(transaction=True)
def test_without_the_checkout_origin_the_browser_refuses_the_redirect(open_page, course, standin):
    """The same click under a policy whose form-action does not name the stand-in: refused, so
    the origin in form-action is what lets an attendee pay."""
    registration = eligible(open_offering(course))
    page = open_page(links.manage_path(registration), allow=(standin.base_url,), enforce_csp=True)
    page.get_by_role("button", name="Pay $250 and take a seat").click()
    page.wait_for_timeout(1500)
    assert not page.url.startswith(standin.base_url)
    violations = page_log(page).policy_violations
    assert any("form-action" in violation for violation in violations), violations
    with pytest.raises(AssertionError, match="form-action"):
        assert_no_csp_violations(page)


@pytest.fixture
def signed_in_staff(live_server, django_user_model):
    """A superuser's session cookie, as after signing in (two-factor is off in the tests)."""
    user = django_user_model.objects.create_superuser("boss", "boss@citreg.localhost", "x")
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


def test_staff_pages_run_under_the_policy(open_page, offering, signed_in_staff):
    """The sign-in page and the admin (its stylesheets carry Django's nonce, its scripts a src)."""
    page = open_page("/account/login/", enforce_csp=True)
    expect(page.locator("main form input[type=password]")).to_be_visible()
    assert_no_csp_violations(page)
    page = open_page(None, enforce_csp=True)
    page.context.add_cookies([signed_in_staff])
    registration = eligible(offering)
    for path in (
        "/admin/",
        "/admin/registrations/registration/",
        f"/admin/registrations/registration/{registration.pk}/change/",
        f"/admin/courses/offering/{offering.pk}/change/",
        f"/admin/courses/offering/{offering.pk}/history/",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert page.locator("#content").is_visible(), path
        # The admin's own stylesheet applied: its header is a flex box.
        assert page.locator("#header").evaluate("el => getComputedStyle(el).display") == "flex"
    assert_no_csp_violations(page)
