"""``registrations.views.register``: the form keeps what was typed, drafts are not found, a
closed registration is explained, HEAD works and a CSRF failure gets a friendly page."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from courses.models import Offering
from registrations.models import Registration
from tests.factories import make_offering
from tests.registrations.helpers import form_data, open_offering, register_url

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
