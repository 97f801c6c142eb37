"""Bad input found by trying to break the forms and links: each must fail cleanly or be cleaned."""

import base64
import json

import pytest
from django.core import mail
from icalendar import Calendar

from courses.models import Offering
from registrations import links
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import email_send
from registrations.models import AgencyDomain, Registration
from tests.registrations.helpers import form_data, open_offering, register_url
from tests.registrations.stripe_helpers import eligible

S = Registration.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course):
    return open_offering(course)


def post(client, offering, django_capture_on_commit_callbacks, **overrides):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(register_url(offering), form_data(**overrides))


def test_longest_names_register_and_their_emails_send(
    client, offering, django_capture_on_commit_callbacks
):
    AgencyDomain.objects.create(domain="other-psap.example.gov", agency_name="Other")
    response = post(
        client, offering, django_capture_on_commit_callbacks,
        first_name="Ä" * 150, last_name="Ø" * 150, employer_name="Center " * 28,
        work_email="x@county.example.org", supervisor_email="boss@other-psap.example.gov",
    )  # fmt: skip
    assert response.status_code == 302
    registration = Registration.objects.get()
    from registrations.eligibility import work_email_confirm

    with django_capture_on_commit_callbacks(execute=True):
        work_email_confirm(registration)
    supervisor = OutboundEmail.objects.get(kind="supervisor_confirmation")
    assert supervisor.status == "sent" and len(supervisor.subject) <= 200
    assert supervisor.subject.endswith("\u2026")
    assert all(email.status == "sent" for email in OutboundEmail.objects.all())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "a@localhost", "full domain name"),
        ("email", "a@[127.0.0.1]", "full domain name"),
        ("phone", "call me maybe <b>", "Enter a phone number"),
        ("last_name", "\u200b", "This field is required."),
        ("accessibility_needs", "x" * 2001, "under 2,000 characters"),
    ],
)
def test_bad_values_are_refused_with_a_message(client, offering, field, value, message):
    response = client.post(register_url(offering), form_data(**{field: value}))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Registration.objects.exists()


def test_line_breaks_and_odd_zones_are_cleaned(
    client, offering, django_capture_on_commit_callbacks
):
    post(
        client, offering, django_capture_on_commit_callbacks,
        first_name="Ana\r\nBcc: evil@example.org", phone=" 303 555 0100 x12 ", time_zone="Factory",
    )  # fmt: skip
    registration = Registration.objects.get()
    assert registration.first_name == "Ana Bcc: evil@example.org"
    assert registration.phone == "303 555 0100 x12"
    assert registration.time_zone == ""


def test_links_do_not_show_the_address(offering):
    registration = eligible(offering, email="private.person@example.org")
    token = links.work_email_url(registration).rstrip("/").rsplit("/", 1)[1]
    payload = token.split(":")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"@" not in decoded and json.loads(decoded)["r"] == registration.pk


def test_ended_registration_refuses_changes(client, offering):
    registration = eligible(offering)
    Registration.objects.filter(pk=registration.pk).update(state=S.CANCELLED)
    path = links.manage_path(registration)
    client.post(path, {"save_details": "1", "first_name": "Zed", "last_name": "Q", "phone": ""})
    client.post(path, {"change_email": "1", "new_email": "new@example.org"})
    registration.refresh_from_db()
    assert (registration.first_name, registration.pending_email) == ("Ana", "")
    assert not mail.outbox


def test_email_change_onto_another_registration_is_refused(client, offering):
    registration = eligible(offering, email="ana@example.org")
    eligible(offering, email="gina@example.org")
    response = client.post(
        links.manage_path(registration), {"change_email": "1", "new_email": "GINA@example.org"}
    )
    assert "already has a registration for this class" in response.content.decode()
    registration.refresh_from_db()
    assert registration.pending_email == ""


def test_case_only_email_correction_applies_at_once(client, offering):
    registration = eligible(offering, email="ana@example.org")
    response = client.post(
        links.manage_path(registration),
        {"change_email": "1", "new_email": "Ana@example.org"},
        follow=True,
    )
    assert "Your course email is Ana@example.org." in response.content.decode()
    registration.refresh_from_db()
    assert (registration.email, registration.pending_email) == ("Ana@example.org", "")
    assert not mail.outbox


def test_admin_refuses_an_email_clash(admin_client, offering):
    registration = eligible(offering, email="oscar@example.org")
    eligible(offering, email="gina@example.org")
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    data = {
        "first_name": "Oscar", "last_name": "T", "email": "Gina@example.org", "phone": "",
        "role": "other", "pending_email": "", "needs_attention": "", "attention_reason": "",
        **{f"{prefix}-{suffix}": "0" for prefix in ("payments", "events", "emails")
           for suffix in ("TOTAL_FORMS", "INITIAL_FORMS")},
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Another active registration for this class already uses this email." in (
        response.content.decode()
    )


def test_cancelled_class_calendar_says_so(client, course):
    offering = open_offering(course)
    Offering.objects.filter(pk=offering.pk).update(status=Offering.Status.CANCELLED)
    response = client.get(f"{offering.get_absolute_url()}calendar.ics")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert {str(event["STATUS"]) for event in events} == {"CANCELLED"}


def test_head_requests_and_friendly_csrf_page(client, offering, settings):
    assert client.head("/healthz").status_code == 200
    assert client.head(register_url(offering)).status_code == 200
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(register_url(offering), form_data())
    assert response.status_code == 403
    assert "Please try again" in response.content.decode()


def test_stuck_message_is_not_resent_forever(offering, settings):
    from datetime import timedelta

    from django.utils import timezone

    from registrations.messaging.outbox import email_queue

    email = email_queue(kind="test", to_email="a@example.org", template="emails/test",
                        dedupe_key="stuck", context={"queued_at": "now"}).email  # fmt: skip
    OutboundEmail.objects.filter(pk=email.pk).update(
        status="sending", attempts=settings.EMAIL_MAX_ATTEMPTS,
        sending_started_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    assert email_send(email.pk).outcome == "already-done"
    email.refresh_from_db()
    assert email.status == "failed" and not mail.outbox
