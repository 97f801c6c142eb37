"""The training office's day in a real browser: a training administrator opens the dashboard,
follows "awaiting review" to the queue, approves a registrant from the review page, opens a
class's roster from the dashboard and exports it (XLSX and CSV), and prints a sign-in sheet."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from registrations.models import Registration, StaffAccess
from tests.browser.harness import (
    assert_accessible,
    assert_no_csp_violations,
    assert_no_script_errors,
)
from tests.registrations.admin.every_state import every_state

pytestmark = pytest.mark.browser
S = Registration.State


def test_an_administrator_works_from_the_dashboard(open_page, course, office_cookie):
    offering, people, _ = every_state(course, timezone.localdate() + timedelta(days=12))
    waiting = people[S.PENDING_REVIEW]
    page = open_page(None)
    page.context.add_cookies([office_cookie])
    page.goto("/admin/")
    dashboard = page.locator("#dashboard")
    expect(dashboard).to_be_visible()
    expect(page.locator("#dashboard-awaiting-review")).to_contain_text("1 awaiting review")
    row = page.locator(f'#dashboard-classes tr[data-offering="{offering.pk}"]')
    expect(row.locator("a.seats")).to_have_text("4")
    expect(row.locator("a.waitlist")).to_have_text("2")
    assert_accessible(page)

    # "Awaiting review" lands on the queue, filtered to that one registrant.
    page.locator("#dashboard-awaiting-review").click()
    expect(page).to_have_url(re.compile(r"/admin/registrations/registrationunderreview/$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list tbody tr a").first.click()
    expect(page).to_have_url(re.compile(rf"/registrationunderreview/{waiting.pk}/change/"))
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("approved")
    assert Registration.objects.get(pk=waiting.pk).state == S.ELIGIBLE

    # The class's roster, from the dashboard.
    page.goto("/admin/")
    page.locator(f'#dashboard-classes tr[data-offering="{offering.pk}"] th a').click()
    expect(page).to_have_url(re.compile(rf"/admin/courses/offering/{offering.pk}/roster/$"))
    table = page.locator("#roster-table tbody tr")
    expect(table).to_have_count(len(people) + 2)
    expect(page.locator("#roster-seats-taken")).to_have_text(
        f"4 of {offering.capacity} seats taken"
    )
    assert_accessible(page)
    with page.expect_download() as download:
        page.locator("#roster-export-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as file:
        sheet = load_workbook(io.BytesIO(file.read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("registration", "first name", "last name")
    assert len(rows) == 1 + len(people) + 2
    with page.expect_download() as download:
        page.locator("#roster-export-csv").click()
    with open(download.value.path(), encoding="utf-8-sig", newline="") as file:
        csv_rows = list(csv.reader(io.StringIO(file.read())))
    assert [int(r[0]) for r in csv_rows[1:]] == [r[0] for r in rows[1:]]
    assert StaffAccess.objects.filter(action="roster_export").count() == 2

    # A sign-in sheet, printable.
    page.get_by_role("link", name="sign-in sheet").first.click()
    expect(page.locator("#sign-in-table tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name="Print this sheet")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("#header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print this sheet")).to_be_hidden()
    assert_no_script_errors(page)


def test_the_new_pages_run_under_the_policy(open_page, course, office_cookie):
    """The dashboard, the roster and the sign-in sheet with the Content-Security-Policy
    enforced: their stylesheet and the print button's script load from the site."""
    offering, _, _ = every_state(course, timezone.localdate() + timedelta(days=12))
    page = open_page(None, enforce_csp=True)
    page.context.add_cookies([office_cookie])
    session = offering.session_list[0]
    for path in (
        "/admin/",
        f"/admin/courses/offering/{offering.pk}/roster/",
        f"/admin/courses/offering/{offering.pk}/change/",
        f"/admin/courses/session/{session.pk}/sign-in-sheet/",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
    expect(page.locator("#sign-in-table")).to_have_css("border-collapse", "collapse")
    assert_no_csp_violations(page)
    assert_no_script_errors(page)
