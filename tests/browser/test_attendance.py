"""Attendance in a real browser: a training administrator imports the demo class's day-1 Zoom
and day-2 Teams reports, ignores the stray device row, applies both, finalises both sessions and
downloads a certificate that appears."""

import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from registrations.certificates.models import Certificate
from registrations.models import Registration
from tests.attendance_fixtures import ATTENDANCE_DATA
from tests.browser.harness import assert_accessible, assert_no_script_errors

pytestmark = pytest.mark.browser
S = Registration.State
REPORTS = ("zoom-participants-2024-12-12.csv", "teams-attendance-2024-12-13.csv")


def test_an_administrator_imports_both_reports_and_completes_the_class(
    open_page, december_class, attendees, office_cookie
):
    page = open_page(None)
    page.context.add_cookies([office_cookie])
    page.goto(f"/admin/courses/offering/{december_class.pk}/change/")
    for day, report in enumerate(REPORTS, start=1):
        page.get_by_role("link", name=f"Day {day}", exact=True).click()
        expect(page).to_have_url(re.compile(r"/attendance/$"))
        page.locator("#id_report").set_input_files(str(ATTENDANCE_DATA / report))
        page.get_by_role("button", name="Read the report").click()
        expect(page).to_have_url(re.compile(r"/attendanceimport/\d+/review/$"))
        assert_accessible(page)
        if day == 1:
            expect(page.locator("#import-counts")).to_contain_text("Not matched: 1")
            row = page.locator('#participants tr[data-outcome="unmatched"]')
            row.locator("select").select_option(label="Ignore these rows")
        page.get_by_role("button", name="Apply this report").click()
        expect(page.locator(".messagelist")).to_contain_text("Import applied")
        expect(page.locator("#attendance-sheet")).to_contain_text("Ben Sample")
        assert_accessible(page)
        page.get_by_label(re.compile("All reports are imported")).check()
        page.get_by_role("button", name="Finalise this session's attendance").click()
        expect(page.locator(".messagelist")).to_contain_text("Attendance finalised")
        page.goto(f"/admin/courses/offering/{december_class.pk}/change/")

    states = dict(
        Registration.objects.filter(offering=december_class).values_list("first_name", "state")
    )
    assert states == {
        "Ana": S.COMPLETED, "Ben": S.COMPLETED, "Cara": S.COMPLETED,
        "Dev": S.CONFIRMED, "José": S.COMPLETED, "Zoë": S.COMPLETED,
    }  # fmt: skip

    # The certificates appeared: one opens from the admin list as a PDF naming its attendee,
    # and its public page confirms it.
    page.goto("/admin/registrations/certificate/")
    row = page.locator("#result_list tbody tr", has_text="Zoë Ångström")
    expect(row).to_have_count(1)
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    text = "".join(p.extract_text() for p in PdfReader(download.value.path()).pages)
    certificate = Certificate.objects.get(registration__first_name="Zoë")
    assert "Zoë Ångström" in text and certificate.number in text
    page.goto(f"/certificates/{certificate.number}/")
    expect(page.locator("main")).to_contain_text("Zoë Ångström")
    assert Certificate.objects.count() == 5
    assert_no_script_errors(page)
