"""Transfers in a real browser: a training administrator moves a confirmed registration with
"Transfer to another class…", and an attendee moves themselves from the manage page ("Change to
another class": choose, confirm); both pages pass axe (serious and critical)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from registrations import links
from registrations.models import Registration
from tests.browser.harness import assert_accessible, assert_no_script_errors
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import path_of

pytestmark = pytest.mark.browser
S = Registration.State


@pytest.fixture
def classes(course):
    first = make_offering(course, next_date(7, 8))
    second = make_offering(course, next_date(7, 8) + timedelta(days=7), evening=True)
    return first, second


def test_an_administrator_transfers_a_registration(open_page, classes, office_cookie):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first, first_name="Quinn")
    page = open_page(None)
    page.context.add_cookies([office_cookie])
    page.goto("/admin/registrations/registration/")
    page.locator(f'input[name="_selected_action"][value="{registration.pk}"]').check()
    page.locator('select[name="action"]').select_option("transfer_to_another_class")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Transfer to another class")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("seats left").check()
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator(".messagelist")).to_contain_text("moved to")
    assert Registration.objects.get(pk=registration.pk).offering_id == second.pk
    assert_no_script_errors(page)


def test_an_attendee_changes_class_from_the_manage_page(open_page, classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    page = open_page(path_of(links.manage_url(registration)), timezone_id="America/New_York")
    section = page.locator("section.transfer")
    expect(section).to_contain_text("1 change left")
    expect(section).to_contain_text(second.date_label)
    assert_accessible(page)
    section.get_by_role("link", name="Choose this class").click()
    confirm = page.get_by_role("region", name="Confirm the change")
    expect(confirm).to_contain_text(second.date_label)
    assert_accessible(page)
    confirm.get_by_role("button", name="Move to this class").click()
    expect(page.get_by_role("status").first).to_contain_text("Your place is now in the class of")
    assert Registration.objects.get(pk=registration.pk).offering_id == second.pk
    assert_no_script_errors(page)


def test_an_administrator_transfers_a_registration_and_cancels_a_class(
    open_page, classes, office_cookie
):
    first, second = classes
    moving = registration_in(S.CONFIRMED, first, first_name="Rowan")
    staying = registration_in(S.CONFIRMED, first, first_name="Sasha")
    waiting = registration_in(S.WAITLISTED, first, first_name="Tal")
    page = open_page(None)
    page.context.add_cookies([office_cookie])

    page.goto("/admin/registrations/registration/")
    page.locator(f'input[name="_selected_action"][value="{moving.pk}"]').check()
    page.locator('select[name="action"]').select_option("transfer_to_another_class")
    page.get_by_role("button", name="Run").click()
    page.get_by_label("seats left").check()
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator(".messagelist")).to_contain_text("moved to")

    page.goto("/admin/courses/offering/")
    page.locator(f'input[name="_selected_action"][value="{first.pk}"]').check()
    page.locator('select[name="action"]').select_option("cancel_this_class")
    page.get_by_role("button", name="Run").click()
    counts = page.get_by_role("table", name="Active registrations (2)")
    expect(counts).to_contain_text("Seat held for payment")  # the freed seat, offered to Tal
    assert_accessible(page)
    page.get_by_label("Reason").fill("The instructor is ill; we are sorry.")
    page.get_by_role("button", name="Cancel the class").click()

    expect(page.locator('[data-count="notified"]')).to_have_text("2")
    expect(page.get_by_role("table", name="Registrants")).to_contain_text("Sasha")
    assert_accessible(page)
    first.refresh_from_db()
    assert first.status == first.Status.CANCELLED
    assert Registration.objects.get(pk=moving.pk).offering_id == second.pk
    assert Registration.objects.get(pk=waiting.pk).state == S.CANCELLED
    assert Registration.objects.get(pk=staying.pk).cancellation_choices.get().notified_at
    assert_no_script_errors(page)
