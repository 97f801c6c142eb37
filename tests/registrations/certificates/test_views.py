"""The public verification page and the attendee's download from the manage page."""

import io
import re
from datetime import UTC, datetime

import pypdf
import pytest
import time_machine
from django.core.cache import cache

from registrations import links
from registrations.certificates import service
from registrations.models import Registration
from tests.factories import registration_in
from tests.registrations.helpers import open_link, path_of

pytestmark = pytest.mark.django_db
# The day after the December 12–13, 2024 class: its manage links are valid (30 days after it).
AFTER_CLASS = datetime(2024, 12, 14, 17, 0, tzinfo=UTC)


@pytest.fixture
def certificate(completed):
    registration = completed("Zoë", "Ångström", employer_name="North ECC", phone="303-555-0100")
    return service.issue_certificate(registration.pk)


def visible_text(html: str) -> str:
    main = html.split('id="main"', 1)[1]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


def test_the_page_confirms_name_course_dates_and_hours_only(client, certificate):
    response = client.get(f"/certificates/{certificate.number}/")
    assert response.status_code == 200
    html = response.content.decode()
    text = visible_text(html)
    for shown in ["Zoë Ångström", certificate.course_title, "December 12–13, 2024", "8"]:
        assert shown in text
    assert "This certificate is valid" in text
    registration = certificate.registration
    for hidden in [
        registration.email, registration.work_email, "North ECC", "303-555-0100",
        "Dana Cole", "Lee Park", "CE credits", "CEU", registration.supervisor_name,
        "/r/manage/",
    ]:  # fmt: skip
        assert hidden not in html, hidden
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response["Cache-Control"] == "private, no-store"  # a revocation shows at once


def test_the_number_may_be_typed_in_lower_case_without_dashes(client, certificate):
    typed = certificate.number.replace("-", "").lower()
    assert client.get(f"/certificates/{typed}/").status_code == 200


@pytest.mark.parametrize("number", ["2345-6789-ABCD", "0000-0000-0000", "x", "%3Cscript%3E"])
def test_unknown_numbers_are_404(client, certificate, number):
    response = client.get(f"/certificates/{number}/")
    assert response.status_code == 404
    assert "Zoë" not in response.content.decode()


def test_a_revoked_certificate_says_so(client, certificate, admin_user):
    service.certificate_revoke(certificate, reason="Attendance corrected.", user=admin_user)
    response = client.get(f"/certificates/{certificate.number}/")
    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert "This certificate was revoked" in text
    assert "This certificate is valid" not in text
    assert "Attendance corrected." not in text  # the reason stays with staff


def test_lookups_are_rate_limited_per_address(client, certificate, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CERTIFICATE_IP = "3/h"
    cache.clear()
    statuses = [client.get("/certificates/2345-6789-ABCD/").status_code for _ in range(3)]
    assert statuses == [404, 404, 404]
    over = client.get(f"/certificates/{certificate.number}/")
    assert over.status_code == 429 and over["Retry-After"]
    cache.clear()


@time_machine.travel(AFTER_CLASS, tick=True)
def test_the_attendee_downloads_it_from_the_manage_page(client, certificate):
    registration = certificate.registration
    page = open_link(client, path_of(links.manage_url(registration)))
    html = page.content.decode()
    download = f"/r/manage/{registration.pk}/certificate.pdf"
    assert download in html and f"/certificates/{certificate.number}/" in html
    response = client.get(download)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="certificate-{certificate.number}.pdf"' in response["Content-Disposition"]
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Zoë Ångström" in text and certificate.number in text


def test_the_download_needs_the_attendees_grant(client, certificate):
    response = client.get(f"/r/manage/{certificate.registration.pk}/certificate.pdf")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@time_machine.travel(AFTER_CLASS, tick=True)
def test_a_revoked_certificate_is_not_offered_for_download(client, certificate, admin_user):
    service.certificate_revoke(certificate, reason="Mistake.", user=admin_user)
    registration = certificate.registration
    page = open_link(client, path_of(links.manage_url(registration)))
    assert "certificate.pdf" not in page.content.decode()
    assert client.get(f"/r/manage/{registration.pk}/certificate.pdf").status_code == 404


@time_machine.travel(AFTER_CLASS, tick=True)
def test_no_certificate_no_download(client, december_class):
    registration = registration_in(Registration.State.CONFIRMED, december_class)
    page = open_link(client, path_of(links.manage_url(registration)))
    assert "certificate.pdf" not in page.content.decode()
    assert client.get(f"/r/manage/{registration.pk}/certificate.pdf").status_code == 404
