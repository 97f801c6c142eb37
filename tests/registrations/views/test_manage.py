"""``registrations.views.manage``: the attendee's manage page: edits, email change, cancelling,
leaving the waitlist; an ended registration refuses changes."""

import pytest
from django.core import mail

from courses.models import Offering
from registrations import links
from registrations.models import Registration
from registrations.payments import checkout
from registrations.seats import booking
from tests.registrations.helpers import confirm_work_email, link_from_outbox, open_offering, submit
from tests.registrations.stripe_helpers import eligible

S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db
def test_manage_page_edits_email_change_and_cancel(
    client, offering, agency, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    confirm_work_email(client, "ana.test@denver911.example.gov", django_capture_on_commit_callbacks)
    registration = Registration.objects.get()
    path = links.manage_path(registration)
    page = client.get(path).content.decode()
    assert "Eligible" in page and "calendar.ics" in page and "MDT" in page

    client.post(path, {"save_details": "1", "first_name": "Anna", "last_name": "Test",
                       "phone": ""})  # fmt: skip
    registration.refresh_from_db()
    assert (registration.first_name, registration.phone) == ("Anna", "")
    assert "first name: 'Ana' → 'Anna'" in registration.events.last().reason

    with django_capture_on_commit_callbacks(execute=True):
        client.post(path, {"change_email": "1", "new_email": "anna@home.example.org"})
    registration.refresh_from_db()
    assert registration.email == "ana.test+cit@denver911.example.gov"  # not until confirmed
    confirm = link_from_outbox("anna@home.example.org", "/r/email/")
    client.get(confirm)
    assert Registration.objects.get().pending_email == "anna@home.example.org"
    client.post(confirm)
    registration.refresh_from_db()
    assert (registration.email, registration.pending_email) == ("anna@home.example.org", "")
    # Links made for the old address stop working; the new address gets its own.
    assert client.get(path).status_code == 410
    path = links.manage_path(registration)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"cancel": "1"}, follow=True)
    assert "Your registration is cancelled." in response.content.decode()
    registration.refresh_from_db()
    assert registration.state == S.CANCELLED
    assert mail.outbox[-1].subject.startswith("Cancelled:")


@pytest.mark.django_db
def test_ended_registration_refuses_changes(client, offering):
    registration = eligible(offering)
    Registration.objects.filter(pk=registration.pk).update(state=S.CANCELLED)
    path = links.manage_path(registration)
    client.post(path, {"save_details": "1", "first_name": "Zed", "last_name": "Q", "phone": ""})
    client.post(path, {"change_email": "1", "new_email": "new@example.org"})
    registration.refresh_from_db()
    assert (registration.first_name, registration.pending_email) == ("Ana", "")
    assert not mail.outbox


@pytest.mark.django_db(transaction=True)
def test_leaving_the_waitlist(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    checkout.checkout_start(eligible(offering, email="holder@denver911.example.gov"))
    waiting = booking.join_waitlist(eligible(offering, email="w@denver911.example.gov"))
    from registrations import links

    path = links.manage_path(waiting) + "leave-waitlist/"
    assert b"Leave the waitlist" in client.get(path).content
    assert Registration.objects.get(pk=waiting.pk).state == S.WAITLISTED  # GET changes nothing
    client.post(path)
    assert Registration.objects.get(pk=waiting.pk).state == S.CANCELLED
