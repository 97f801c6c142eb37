"""``registrations.links``: signed links expire, cannot be tampered with or reused for another
purpose, hide the address, and die with an address change."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from courses.models import Offering
from registrations import intake, links
from registrations.models import Registration
from tests.registrations.helpers import link_from_outbox, open_offering, submit
from tests.registrations.stripe_helpers import eligible

S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db
def test_expired_and_tampered_links(client, offering, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    path = link_from_outbox("ana.test@denver911.example.gov", "/r/confirm/")
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        expired = client.post(path)
    assert expired.status_code == 410
    assert "This link has expired" in expired.content.decode()
    assert "Email me my link" in expired.content.decode()
    tampered = client.post(path[:-3] + "xx/")
    assert tampered.status_code == 400
    assert "not valid" in tampered.content.decode()
    assert Registration.objects.get().state == S.PENDING_EMAIL
    # A manage link cannot be used as a confirmation link (different purpose, different salt).
    registration = Registration.objects.get()
    token = links.manage_url(registration).rstrip("/").rsplit("/", 1)[1]
    assert client.post(f"/r/confirm/{token}/").status_code == 400


@pytest.mark.django_db
def test_manage_link_expires_30_days_after_the_class(offering):
    registration = Registration.objects.create(
        offering=offering, email="a@e.gov", first_name="A", last_name="B", role="other",
        employer_name="E", employer_city="C", employer_state="CO", work_email="a@e.gov",
        supervisor_name="S", supervisor_email="s@e.gov", attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(), terms_accepted_at=timezone.now(),
    )  # fmt: skip
    path = links.manage_path(registration)
    with time_machine.travel(offering.ends_at() + timedelta(days=29)):
        assert Client().get(path).status_code == 200
    with time_machine.travel(offering.ends_at() + timedelta(days=31)):
        assert Client().get(path).status_code == 410


@pytest.mark.django_db
def test_links_do_not_show_the_address(offering):
    registration = eligible(offering, email="private.person@example.org")
    token = links.work_email_url(registration).rstrip("/").rsplit("/", 1)[1]
    payload = token.split(":")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"@" not in decoded and json.loads(decoded)["r"] == registration.pk


@pytest.mark.django_db(transaction=True)
def test_old_manage_links_stop_working_after_an_email_change(course):
    registration = eligible(open_offering(course))
    token = links.manage_path(registration).rstrip("/").rsplit("/", 1)[-1]
    intake.email_change_request(registration, "new-address@denver911.example.gov")
    registration.refresh_from_db()
    intake.email_change_confirm(registration)
    with pytest.raises(links.LinkError):
        links.read_link(links.MANAGE, token)
