"""The admin in a real browser: a training administrator opens the review queue, sees how long
each registration waited, approves one from its review page (and lands on the next), and the
admin pages this work added pass axe (serious and critical) on a desktop and a phone, where a
wide table scrolls with the keyboard."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from registrations.models import Registration, RegistrationEvent
from registrations.payments.models import Payment
from tests.browser.harness import (
    VIEWPORTS,
    assert_accessible,
    assert_no_script_errors,
)
from tests.registrations.admin.conftest import under_review
from tests.registrations.helpers import open_offering

pytestmark = pytest.mark.browser
S = Registration.State
QUEUE = "/admin/registrations/registrationunderreview/"


@pytest.fixture
def queue(course) -> list[Registration]:
    """Two registrations waiting for review, the first for two days."""
    offering = open_offering(course)
    first = under_review(offering, first_name="Olivia", work_email="olivia@county-psap.example")
    second = under_review(offering, first_name="Pat", work_email="pat@gmail.com")
    RegistrationEvent.objects.filter(registration=first, to_state=S.PENDING_REVIEW).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    return [first, second]


def test_an_administrator_approves_from_the_review_page(open_page, queue, office_cookie):
    first, second = queue
    page = open_page(None)
    page.context.add_cookies([office_cookie])
    page.goto(QUEUE)
    expect(page.locator("#result_list")).to_contain_text("2 days")
    page.get_by_role("link", name=first.full_name).click()
    expect(page.get_by_role("heading", name="Eligibility review")).to_be_visible()
    expect(page.locator(".citreg-review")).to_contain_text("1 of 2 waiting")
    expect(page.locator(".citreg-review")).to_contain_text("not a known agency domain")
    assert_accessible(page)
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page).to_have_url(re.compile(rf"{QUEUE}{second.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("1 registration(s) approved.")
    assert Registration.objects.get(pk=first.pk).state == S.ELIGIBLE
    # The webmail registrant's page offers no listing of gmail.com.
    expect(page.get_by_role("button", name=re.compile("Approve and list"))).to_have_count(0)
    assert_no_script_errors(page)


def assert_admin_accessible(page) -> None:
    """``assert_accessible``: no serious or critical axe finding."""
    assert_accessible(page)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_admin_pages_pass_axe_and_tables_scroll_with_the_keyboard(
    open_page, queue, office_cookie, viewport
):
    first, _ = queue
    Registration.objects.filter(pk=first.pk).update(state=S.CONFIRMED)
    Payment.objects.create(
        registration=first, status=Payment.Status.PAID, amount_cents=25000,
        idempotency_key="browser:1", stripe_payment_intent_id="pi_browser", paid_at=timezone.now(),
    )  # fmt: skip
    page = open_page(None, viewport=viewport)
    page.context.add_cookies([office_cookie])
    for url in (
        QUEUE,
        f"{QUEUE}{queue[1].pk}/change/",
        "/admin/registrations/registration/",
        f"/admin/courses/offering/{first.offering_id}/change/",
        "/admin/registrations/payment/",
    ):
        page.goto(url)
        assert_admin_accessible(page)
    # The refund form (an action's intermediate page).
    page.goto("/admin/registrations/registration/")
    page.locator(f'input[name="_selected_action"][value="{first.pk}"]').check()
    page.locator('select[name="action"]').select_option("refund_only")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("table", name="What each registration paid")).to_contain_text("$250.00")
    expect(page.locator(f"#id_amount-{first.pk}")).to_have_value("250.00")
    assert_accessible(page)
    if viewport == "phone":
        page.goto("/admin/registrations/registration/")
        results = page.locator("#changelist .results")
        wide = results.evaluate("el => el.scrollWidth > el.clientWidth")
        results.focus()
        expect(results).to_be_focused()
        if wide:
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            # Scrolling by key may be animated: wait for it.
            page.wait_for_function(
                "() => document.querySelector('#changelist .results').scrollLeft > 0",
                timeout=5000,
            )
        assert (
            page.evaluate("document.documentElement.scrollWidth")
            <= VIEWPORTS[viewport]["width"] + 40
        )
