"""``registrations.views.register``: the form keeps what was typed, drafts are not found, a
closed registration is explained, HEAD works and a CSRF failure gets a friendly page."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from courses.models import Offering
from registrations.models import AgencyDomain, Registration
from registrations.models.agency import WEBMAIL_DOMAINS
from tests.factories import make_offering
from tests.registrations.helpers import form_data, open_offering, register_url, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def test_form_errors_keep_every_typed_value(client, offering):
    data = form_data(
        first_name="  Nguyễn Thị Minh-Khai  ",
        last_name="Ångström-Øberg",
        email="not-an-email",
        accessibility_needs="Captions, please.",
        attest_employment="",
    )
    response = client.post(register_url(offering), data)
    assert response.status_code == 400
    html = response.content.decode()
    form = response.context["form"]
    assert set(form.errors) == {"email", "attest_employment"}
    assert "This course is open only to current call center staff." in html
    assert 'value="  Nguyễn Thị Minh-Khai  "' in html  # exactly as typed
    assert 'value="not-an-email"' in html
    assert 'value="Ångström-Øberg"' in html
    assert "Captions, please." in html
    assert 'value="303-555-0100"' in html
    assert '<option value="CO" selected>' in html
    assert not Registration.objects.exists()


def test_draft_offering_is_not_found_and_closed_registration_is_explained(client, course):
    draft = make_offering(course, (timezone.now() + timedelta(days=90)).date(), status="draft")
    assert client.get(register_url(draft)).status_code == 404
    soon = make_offering(
        course,
        (timezone.now() + timedelta(hours=20)).date() + timedelta(days=1),
        registration_opens_at=timezone.now() - timedelta(days=10),
    )
    with time_machine.travel(soon.registration_closes_at + timedelta(minutes=1)):
        response = client.get(register_url(soon))
    assert "Registration for this class has closed." in response.content.decode()


def test_head_requests_and_friendly_csrf_page(client, offering, settings):
    assert client.head("/healthz").status_code == 200
    assert client.head(register_url(offering)).status_code == 200
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(register_url(offering), form_data())
    assert response.status_code == 403
    assert "Please try again" in response.content.decode()


def test_the_error_summary_counts_the_errors_and_links_each_field_in_page_order(client, offering):
    data = form_data(first_name="", work_email="nope", attest_employment="")
    response = client.post(register_url(offering), data)
    html = response.content.decode()
    assert "3 things to fix before we can register you" in html
    summary = html[html.index('id="error-summary"') : html.index('id="how-heading"')]
    ids = [part.split('"')[0] for part in summary.split('data-field="')[1:]]
    assert ids == ["id_first_name", "id_work_email", "id_attest_employment"]
    assert "Employment at a call center: This course is open only" in summary
    assert "<title>Fix 3 problems" in html


def test_how_registration_works_comes_before_the_fields_and_the_lists_come_from_the_server(
    client, offering
):
    AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")
    html = client.get(register_url(offering)).content.decode()
    assert html.index("How registration works") < html.index('name="first_name"')
    assert 'data-agency-domains="denver911.example.gov"' in html
    webmail = html.split('data-webmail-domains="')[1].split('"')[0].split()
    assert webmail == sorted(WEBMAIL_DOMAINS)
    assert 'id="supervisor-why"' in html and "Why we ask" in html
    assert html.count('aria-describedby="supervisor-why"') == 2  # both supervisor fields


def test_the_course_email_defaults_to_the_work_email(
    client, offering, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks, email="")
    registration = Registration.objects.get()
    assert registration.email == registration.work_email == "ana.test@denver911.example.gov"


@pytest.mark.parametrize(
    ("work_email", "supervisor_email", "says", "never"),
    [
        ("ana@denver911.example.gov", "sam@denver911.example.gov",
         "is a known agency domain, so opening the link confirms", "staff check"),
        ("ana.cit@gmail.com", "sam@denver911.example.gov",
         "gmail.com</strong> is a personal webmail address", "known agency domain, so"),
        ("ana@county.example.org", "sam@county.example.org",
         "county.example.org</strong> is not an agency domain we know yet", "supervisor to"),
    ],
)  # fmt: skip
def test_the_page_after_the_form_says_what_happens_next_from_what_was_typed(
    client, offering, django_capture_on_commit_callbacks, work_email, supervisor_email, says, never
):
    AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")
    submit(
        client, offering, django_capture_on_commit_callbacks,
        work_email=work_email, supervisor_email=supervisor_email, email="",
    )  # fmt: skip
    html = client.get("/registered/").content.decode()
    assert says in html and never not in html
    assert "was already registered" not in html and " if " not in html.split("<main")[1]
    if "gmail" in work_email:
        assert "We also ask your supervisor to confirm" in html
        assert "Your seat is not held during the check." in html
