"""In a real browser: an emailed manage link leaves the address bar (the token is in the first
request only: not in history, not in any ``Referer``), the page opens only in that browser, and
a form posted to an old token URL still acts (Chromium keeps the POST and passes the CSRF check
across the 307)."""

import pytest
from playwright.sync_api import expect

from registrations import links
from registrations.models import Registration
from tests.browser.harness import assert_accessible
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_token_leaves_the_address_bar_history_and_referer(open_page, course):
    registration = eligible(open_offering(course))
    token_path = links.manage_path(registration)
    token = token_path.split("/")[3]
    page_path = f"/r/manage/{registration.pk}/"
    page = open_page(None)
    sent: list[tuple[str, str]] = []
    page.on(
        "request", lambda request: sent.append((request.url, request.headers.get("referer", "")))
    )
    page.goto(token_path)
    assert page.url.endswith(page_path)
    expect(page.get_by_role("button", name="Pay $250 and take a seat")).to_be_visible()
    assert_accessible(page)
    with page.expect_navigation():
        page.locator("a.navbar-brand").click()  # a link: its request names the page it left
    assert next(referer for url, referer in sent if url == page.url).endswith(page_path)
    page.go_back()
    assert page.url.endswith(page_path)  # the token URL was never a history entry
    page.go_back()
    assert page.url == "about:blank"
    assert [url for url, _ in sent if token in url] == [sent[0][0]]
    assert not [url for url, referer in sent if token in referer]

    other = open_page(page_path, status=403)
    expect(other.get_by_role("heading", name="Open the link from your email")).to_be_visible()
    assert registration.full_name not in other.content()
    assert_accessible(other)


def test_a_form_posted_to_an_old_token_url_still_acts(open_page, course):
    registration = eligible(open_offering(course))
    token_path = links.manage_path(registration)
    page = open_page(token_path)
    # As a page opened before this change did: its forms post to the token URL.
    page.evaluate(
        "(action) => document.querySelector('button[name=cancel]').form.action = action",
        token_path,
    )
    page.get_by_role("button", name="Cancel my registration").click()
    expect(page.get_by_text("Your registration is cancelled.")).to_be_visible()
    assert page.url.endswith(f"/r/manage/{registration.pk}/")
    registration.refresh_from_db()
    assert registration.state == Registration.State.CANCELLED
