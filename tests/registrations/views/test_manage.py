"""``registrations.views.manage``: the attendee's manage page: edits, email change, cancelling,
leaving the waitlist; an ended registration refuses changes; Stripe returns to token-less pages
that open through the grant of the browser that started the payment."""

import pytest
from django.core import mail
from django.test import Client

from courses.models import Offering
from registrations import links
from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment
from registrations.seats import booking
from tests.registrations.helpers import (
    confirm_work_email,
    link_from_outbox,
    open_link,
    open_offering,
    submit,
)
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
    confirmed = confirm_work_email(
        client, "ana.test@denver911.example.gov", django_capture_on_commit_callbacks
    )
    registration = Registration.objects.get()
    path = confirmed["Location"]
    assert path == f"/r/manage/{registration.pk}/"  # granted by confirming the work email
    page = client.get(path).content.decode()
    assert "Eligible" in page and "MDT" in page
    # Not confirmed yet: no calendar entry is offered as if the seat were taken.
    assert "calendar.ics" not in page and "Your seat is not confirmed yet" in page

    client.post(path, {"save_details": "1", "first_name": "Anna", "last_name": "Test",
                       "phone": ""})  # fmt: skip
    registration.refresh_from_db()
    assert (registration.first_name, registration.phone) == ("Anna", "")
    assert "first name: 'Ana' → 'Anna'" in registration.events.last().reason

    with django_capture_on_commit_callbacks(execute=True):
        client.post(path, {"change_email": "1", "new_email": "anna@home.example.org"})
    registration.refresh_from_db()
    assert registration.email == "ana.test+cit@denver911.example.gov"  # not until confirmed
    old_link = links.manage_path(registration)
    confirm = open_link(client, link_from_outbox("anna@home.example.org", "/r/email/"))
    assert Registration.objects.get().pending_email == "anna@home.example.org"
    response = client.post(confirm.request["PATH_INFO"])
    assert response["Location"] == path
    registration.refresh_from_db()
    assert (registration.email, registration.pending_email) == ("anna@home.example.org", "")
    # Links made for the old address stop working; this browser got a grant for the new one.
    assert client.get(old_link).status_code == 410
    assert "Your course email is now anna@home.example.org." in client.get(path).content.decode()

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
    path = open_link(client, links.manage_path(registration)).request["PATH_INFO"]
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

    page = open_link(client, links.manage_path(waiting) + "leave-waitlist/")
    path = page.request["PATH_INFO"]
    assert path == f"/r/manage/{waiting.pk}/leave-waitlist/"
    assert b"Leave the waitlist" in page.content
    assert Registration.objects.get(pk=waiting.pk).state == S.WAITLISTED  # GET changes nothing
    assert Client().post(path).status_code == 403  # only in the browser that opened the link
    response = client.post(path)
    assert response["Location"] == links.manage_page_path(waiting)
    assert Registration.objects.get(pk=waiting.pk).state == S.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_stripe_returns_to_pages_without_the_token(course, standin, client):
    offering = open_offering(course)
    registration = eligible(offering)
    page = open_link(client, links.manage_path(registration)).request["PATH_INFO"]
    response = client.post(page, {"pay": "1"})
    assert response["Location"].startswith(standin.base_url)
    payment = Payment.objects.get(registration=registration)
    session = standin.store.retrieve_session(payment.stripe_checkout_session_id)
    site = "http://127.0.0.1:8000"
    assert session["success_url"] == (
        f"{site}/r/manage/{registration.pk}/payment/?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert session["cancel_url"] == f"{site}/r/manage/{registration.pk}/"
    # Back from Stripe in the same browser: the grant opens both pages.
    back = f"/r/manage/{registration.pk}/payment/?session_id={payment.stripe_checkout_session_id}"
    status = client.get(back)
    assert status.status_code == 200 and b"Waiting for your payment" in status.content
    assert f'href="{page}"' in status.content.decode()
    assert b"A seat is held for you" in client.get(page).content
    # In another browser: the page that offers a new link.
    for url in (back, page):
        other = Client().get(url)
        assert other.status_code == 403 and b"Email me my link" in other.content
