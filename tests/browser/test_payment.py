"""In a real browser, against the Stripe stand-in delivering signed webhooks to the live server:
pay and be confirmed with one seat fewer; and cancel a hold, released when the session expires."""

import pytest

from registrations import links
from registrations.models import Registration
from tests.browser.harness import assert_accessible
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible, running_standin

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def standin(settings, live_server):
    settings.SITE_URL = live_server.url
    with running_standin(settings, webhook_url=f"{live_server.url}/payments/stripe/webhook/") as s:
        yield s


def test_pay_on_the_standin_and_be_confirmed(open_page, course, standin):
    offering = open_offering(course)
    registration = eligible(offering)
    page = open_page(offering.get_absolute_url(), allow=(standin.base_url,))
    assert "24 of 24 left" in page.locator(".seats").inner_text()
    page.goto(links.manage_path(registration))
    assert_accessible(page)
    page.get_by_role("button", name="Pay $250 and take a seat").click()
    page.wait_for_url(f"{standin.base_url}/**")
    assert "$250.00" in page.content()
    page.get_by_role("button", name="Pay (succeeds)").click()
    page.wait_for_url("**/payment/?session_id=*")
    page.get_by_text("You're confirmed").wait_for(timeout=15000)
    registration.refresh_from_db()
    assert registration.state == Registration.State.CONFIRMED
    page.goto(offering.get_absolute_url())
    assert "23 of 24 left" in page.locator(".seats").inner_text()


def test_cancel_at_checkout_then_the_hold_is_released_when_the_session_expires(
    open_page, course, standin
):
    from tests.registrations.stripe_helpers import standin_post
    from tests.services import wait_for

    offering = open_offering(course)
    registration = eligible(offering)
    page = open_page(links.manage_path(registration), allow=(standin.base_url,))
    page.get_by_role("button", name="Pay $250 and take a seat").click()
    page.wait_for_url(f"{standin.base_url}/**")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url("**/r/manage/*/")
    assert "A seat is held for you" in page.content()
    assert Registration.objects.get(pk=registration.pk).state == Registration.State.HELD
    # Stripe expires the session at its expires_at (the hold's end): jump the stand-in's clock.
    assert standin_post(standin, "/_standin/clock/advance", {"seconds": "2200"}) == 200
    wait_for(
        lambda: Registration.objects.get(pk=registration.pk).state == Registration.State.EXPIRED,
        15,
    )
    page.reload()
    assert "Your seat was not kept" in page.content()
