"""Seat holds, the waitlist, Stripe Checkout against the stand-in, webhooks, refunds."""

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.seats import booking, queries
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    deliver,
    eligible,
    events,
    pay,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def confirmed(offering, standin, client, email="ana@denver911.example.gov") -> Registration:
    registration = eligible(offering, email=email)
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    assert deliver(client, completed_for(standin, url)).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    return registration


# --- checkout -----------------------------------------------------------------------------------


def test_checkout_session_follows_the_hold_and_stripe_rules(course, standin):
    offering = open_offering(course)
    registration = eligible(offering)
    before = timezone.now()
    url = checkout.checkout_start(registration)
    registration.refresh_from_db()
    assert registration.state == S.HELD
    hold = registration.hold_expires_at - before
    assert timedelta(minutes=34, seconds=59) < hold <= timedelta(minutes=35, seconds=5)
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents, payment.currency) == ("open", 25000, "usd")
    assert payment.expires_at == registration.hold_expires_at
    assert url == payment.checkout_url and url.startswith(standin.base_url)
    # A second click reuses the open session instead of making another.
    assert checkout.checkout_start(registration) == url
    assert Payment.objects.count() == 1
    assert queries.seats_taken(offering) == 1


def test_checkout_refused_before_eligibility(course, standin):
    registration = eligible(open_offering(course))
    Registration.objects.filter(pk=registration.pk).update(state=S.PENDING_REVIEW)
    with pytest.raises(checkout.CheckoutUnavailable, match="still being reviewed"):
        checkout.checkout_start(registration)
    assert not Payment.objects.exists()


def test_stripe_unreachable_frees_the_hold(course, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    registration = eligible(open_offering(course))
    with pytest.raises(checkout.CheckoutUnavailable, match="could not start the payment"):
        checkout.checkout_start(registration)
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert queries.seats_taken(registration.offering) == 0


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_checkouts_for_three_seats_take_exactly_three(course, standin):
    offering = open_offering(course)
    offering.capacity = 3
    offering.save()
    registrations = [eligible(offering, email=f"p{i}@denver911.example.gov") for i in range(40)]
    barrier = threading.Barrier(40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(registration):
        barrier.wait()
        try:
            checkout.checkout_start(registration)
            outcome = "held"
        except booking.OfferingFull:
            outcome = "full"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(r,)) for r in registrations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("held") == 3 and outcomes.count("full") == 37
    assert Registration.objects.filter(state=S.HELD).count() == 3
    assert Payment.objects.filter(status="open").count() == 3
    assert queries.seats_taken(offering) == 3
    # The others can join the waitlist, in order.
    late = [r for r in registrations if Registration.objects.get(pk=r.pk).state == S.ELIGIBLE]
    for registration in late[:2]:
        booking.join_waitlist(registration)
    assert queries.waitlist_position(Registration.objects.get(pk=late[1].pk)) == 2


# --- waitlist -----------------------------------------------------------------------------------


def test_expired_hold_offers_the_seat_to_the_waitlist_head_one_per_seat(course, standin):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    holder = eligible(offering, email="holder@denver911.example.gov")
    checkout.checkout_start(holder)
    first = booking.join_waitlist(eligible(offering, email="first@denver911.example.gov"))
    second = booking.join_waitlist(eligible(offering, email="second@denver911.example.gov"))
    assert "waitlist" in mail.outbox[-1].subject.lower()

    with time_machine.travel(timezone.now() + timedelta(minutes=36)):
        assert booking.release_expired_holds() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == S.HELD and first.hold_is_offer
    assert second.state == S.WAITLISTED  # one offer per free seat
    assert first.hold_expires_at - timezone.now() > timedelta(hours=23, minutes=59)
    offer = mail.outbox[-1]
    assert "A seat is free for you" in offer.subject and "leave-waitlist" in offer.body
    # The offer's checkout fits Stripe's window: no later than 23 hours from the click.
    url = checkout.checkout_start(first)
    payment = Payment.objects.get(registration=first)
    assert payment.expires_at - timezone.now() <= timedelta(hours=23, seconds=5)
    assert url

    # An unanswered offer passes on; the one who let it lapse leaves the list.
    first.refresh_from_db()
    with time_machine.travel(first.hold_expires_at + timedelta(minutes=1)):
        assert booking.release_expired_holds() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == S.CANCELLED
    assert second.state == S.HELD and second.hold_is_offer
    lapsed = [m for m in mail.outbox if "first@" in m.to[0] and "offer ended" in m.subject]
    assert lapsed


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


# --- webhooks -----------------------------------------------------------------------------------


def test_pay_and_webhook_confirm_once_even_twice_and_reordered(course, standin, client):
    offering = open_offering(course)
    registration = eligible(offering)
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    completed = events(standin, "checkout.session.completed")
    assert len(completed) == 1
    mail.outbox.clear()
    for event in [completed[0], completed[0]]:
        assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED and registration.hold_expires_at is None
    payment = Payment.objects.get()
    assert payment.status == "paid" and payment.stripe_payment_intent_id.startswith("pi_")
    assert WebhookEvent.objects.get().deliveries == 2
    assert [m.subject for m in mail.outbox] == [
        f"Confirmed: {course.title}, {offering.date_label}, day class"
    ]
    assert queries.seats_taken(offering) == 1


def test_bad_webhooks_are_refused_and_change_nothing(course, standin, client):
    registration = eligible(open_offering(course))
    pay(standin, checkout.checkout_start(registration))
    [event] = events(standin, "checkout.session.completed")
    assert deliver(client, event, secret="whsec_wrong").status_code == 400
    assert (
        deliver(client, event, timestamp=int(timezone.now().timestamp()) - 600).status_code == 400
    )
    tampered = dict(event, type="checkout.session.completed")
    tampered_body = json.dumps(event).encode().replace(b'"paid"', b'"unpaid"')
    assert deliver(client, tampered, body=tampered_body).status_code == 400
    response = client.post(
        "/payments/stripe/webhook/", b"{not json", content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
    )  # fmt: skip
    assert response.status_code == 400
    assert client.post("/payments/stripe/webhook/", b"{}", content_type="application/json"
                       ).status_code == 400  # fmt: skip
    assert client.get("/payments/stripe/webhook/").status_code == 405
    assert not WebhookEvent.objects.exists()
    assert Registration.objects.get().state == S.HELD


def test_unknown_event_types_are_answered_200(client, standin, db):
    event = {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert deliver(client, event).status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None


def test_expired_event_of_an_abandoned_session_changes_nothing_after_paying(
    course, standin, client
):
    registration = eligible(open_offering(course))
    first_url = checkout.checkout_start(registration)
    # Coming back with less than five minutes left on the session: a fresh one replaces it.
    later = timezone.now() + timedelta(minutes=31)
    second_url = checkout.checkout_start(registration, now=later)
    assert second_url != first_url
    [expired] = events(standin, "checkout.session.expired")
    assert pay(standin, second_url) == 303
    [completed] = events(standin, "checkout.session.completed")
    for event in (completed, expired):  # the expiry arrives last
        assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    assert (
        Payment.objects.get(stripe_checkout_session_id=expired["data"]["object"]["id"]).status
        == "expired"
    )


def test_expired_event_releases_an_unpaid_hold(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    session_id = url.rstrip("/").rsplit("/", 1)[-1]
    from registrations.payments.gateway import gateway

    assert gateway().checkout_session_expire(session_id)
    [expired] = events(standin, "checkout.session.expired")
    assert deliver(client, expired).status_code == 200
    assert deliver(client, expired).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert queries.seats_taken(registration.offering) == 0
    [told] = OutboundEmail.objects.filter(kind="hold_lapsed")
    assert told.status == "sent" and "Nothing was charged" in told.text_body


def test_delayed_payment_processing_then_failed(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url, action="delayed", delayed_outcome="failed") == 303
    [completed] = events(standin, "checkout.session.completed")
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.PROCESSING
    assert queries.seats_taken(registration.offering) == 1  # the seat is kept meanwhile
    from tests.services import wait_for

    failed = wait_for(lambda: events(standin, "checkout.session.async_payment_failed"), 10)
    deliver(client, failed[0])
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert "did not go through" in mail.outbox[-1].subject


def test_late_payment_confirms_when_a_seat_is_free(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    booking.release_seat(registration.pk, reason="Seat hold expired unpaid.")
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED


def test_late_payment_without_a_seat_is_refunded_in_full_and_flagged(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    pay(standin, url)
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    [completed] = events(standin, "checkout.session.completed")
    mail.outbox.clear()
    deliver(client, completed)
    deliver(client, completed)
    late.refresh_from_db()
    assert late.state == S.REFUNDED
    assert late.needs_attention and "refunded automatically" in late.attention_reason
    [refund] = Refund.objects.all()
    assert (refund.amount_cents, refund.status, refund.automatic) == (25000, "succeeded", True)
    assert refund.stripe_refund_id.startswith("re_")
    subjects = [m.subject for m in mail.outbox]
    assert any(s.startswith("Needs attention") for s in subjects)
    assert any(s.startswith("Refund") for s in subjects)
    # Stripe's charge.refunded for our own refund changes nothing more.
    [refunded] = events(standin, "charge.refunded")
    deliver(client, refunded)
    assert Refund.objects.count() == 1
    assert Payment.objects.get(registration=late).amount_refunded_cents == 25000


def test_money_for_a_cancelled_registration_is_refunded(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    Registration.objects.filter(pk=registration.pk).update(state=S.CANCELLED)
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.CANCELLED and registration.needs_attention
    assert Refund.objects.get().status == "succeeded"


def test_dispute_flags_the_registration(course, standin, client):
    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get()
    from tests.registrations.stripe_helpers import standin_post

    assert standin_post(standin, "/_standin/disputes", {
        "payment_intent": payment.stripe_payment_intent_id}) == 200  # fmt: skip
    [dispute] = events(standin, "charge.dispute.created")
    deliver(client, dispute)
    deliver(client, dispute)
    registration.refresh_from_db()
    assert registration.needs_attention and "disputed" in registration.attention_reason
    assert registration.state == S.CONFIRMED


# --- refunds ------------------------------------------------------------------------------------


def test_partial_then_full_refund_from_the_admin(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    url = "/admin/registrations/registration/"
    form = admin_client.post(url, {"action": "refund_only", "_selected_action": [registration.pk]})
    assert b"Amount (USD)" in form.content
    admin_client.post(
        url,
        {
            "action": "refund_only",
            "_selected_action": [registration.pk],
            "apply": "1",
            "amount": "100.00",
            "reason": "Missed an hour",
        },
    )
    registration.refresh_from_db()
    payment = Payment.objects.get()
    assert registration.state == S.CONFIRMED and payment.amount_refunded_cents == 10000
    # Stripe's charge.refunded for it is idempotent.
    for event in events(standin, "charge.refunded"):
        deliver(client, event)
    assert Payment.objects.get().amount_refunded_cents == 10000
    admin_client.post(
        url,
        {
            "action": "cancel_and_refund",
            "_selected_action": [registration.pk],
            "apply": "1",
            "amount": "",
            "reason": "Moved away",
        },
    )
    registration.refresh_from_db()
    assert registration.state == S.REFUNDED
    assert Payment.objects.get().amount_refunded_cents == 25000
    assert [r.amount_cents for r in Refund.objects.order_by("pk")] == [10000, 15000]
    assert queries.seats_taken(registration.offering) == 0


def test_admin_refund_stripe_error_changes_nothing(course, standin, client, admin_client, settings):
    registration = confirmed(open_offering(course), standin, client)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = admin_client.post(
        "/admin/registrations/registration/",
        {"action": "cancel_and_refund", "_selected_action": [registration.pk], "apply": "1",
         "amount": "", "reason": "Test"},
        follow=True,
    )  # fmt: skip
    assert "nothing changed" in response.content.decode()
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    assert Payment.objects.get().amount_refunded_cents == 0
    assert Refund.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("days_before", "refunded_cents", "end_state"),
    [(20, 25000, S.REFUNDED), (5, 12500, S.CANCELLED), (1, 0, S.CANCELLED)],
)
def test_self_cancellation_follows_the_refund_policy(
    course, standin, client, days_before, refunded_cents, end_state
):
    offering = open_offering(course)
    registration = confirmed(offering, standin, client)
    from registrations import links

    first = offering.session_list[0].starts_at
    with time_machine.travel(first - timedelta(days=days_before, hours=1)):
        page = client.get(links.manage_path(registration)).content.decode()
        assert f"get back <strong>${refunded_cents // 100}" in page
        client.post(links.manage_path(registration), {"cancel": "1"})
    registration.refresh_from_db()
    assert registration.state == end_state
    assert Payment.objects.get().amount_refunded_cents == refunded_cents
    assert queries.seats_taken(offering) == 0
    # The calendar entries are withdrawn (iTIP CANCEL), once.
    [ended] = OutboundEmail.objects.filter(kind="place_ended", registration=registration)
    assert ended.status == "sent" and "text/calendar; method=CANCEL" in str(ended.attachments)


# The policy pages come from a data migration, which transactional tests flush.
@pytest.mark.django_db
def test_terms_page_shows_the_policy_wording(client, course):
    page = client.get("/policies/terms/").content.decode()
    assert "Cancel at least 14 days before the first session: full refund." in page
    assert "50% refund" in page


def test_offering_with_active_registrations_cannot_be_cancelled(course, admin_client):
    offering = open_offering(course)
    eligible(offering)
    response = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/")
    assert response.status_code == 200
    data = {
        "course": course.pk, "status": "cancelled", "part_of_day": "day", "capacity": 24,
        "time_zone": "America/Denver",
        "registration_opens_at_0": "2026-01-01", "registration_opens_at_1": "00:00:00",
        "registration_closes_at_0": "", "registration_closes_at_1": "",
        "sessions-TOTAL_FORMS": "0", "sessions-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(f"/admin/courses/offering/{offering.pk}/change/", data)
    assert "1 active registration(s)" in response.content.decode()


def test_needs_attention_filter_and_csv_export(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    Registration.objects.filter(pk=registration.pk).update(needs_attention=True)
    listing = admin_client.get("/admin/registrations/registration/?needs_attention__exact=1")
    assert (
        f"/admin/registrations/registration/{registration.pk}/change/" in listing.content.decode()
    )
    payment = Payment.objects.get()
    response = admin_client.post(
        "/admin/registrations/payment/", {"action": "export_csv", "_selected_action": [payment.pk]}
    )
    body = b"".join(response.streaming_content).decode()
    header, row = body.strip().splitlines()
    assert header.startswith("date (UTC),registration,attendee")
    assert ",250.00,USD,0.00," in row and payment.stripe_payment_intent_id in row


def test_charge_refunded_arriving_before_our_refund_is_recorded_counts_once(
    course, standin, client
):
    from registrations.payments import refunds
    from registrations.payments.gateway import gateway

    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get()
    refund = refunds.refund_request(payment=payment, amount_cents=25000, reason="Moved away")
    # Stripe refunds, and its webhook lands before refund_execute records the success.
    gateway().refund_create(
        payment_intent_id=payment.stripe_payment_intent_id,
        amount_cents=25000,
        idempotency_key=refund.idempotency_key,
        reason="Moved away",
    )
    [refunded] = events(standin, "charge.refunded")
    assert deliver(client, refunded).status_code == 200
    refunds.refund_execute(refund.pk)  # Stripe replays the same refund (same key)
    assert [(r.amount_cents, r.status) for r in Refund.objects.all()] == [(25000, "succeeded")]
    payment.refresh_from_db()
    registration.refresh_from_db()
    assert payment.amount_refunded_cents == 25000
    assert registration.state == S.REFUNDED


def test_payment_landing_after_its_hold_lapsed_does_not_overbook(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    late = eligible(offering, email="late@denver911.example.gov")
    late_url = checkout.checkout_start(late)
    # The hold lapses; before the release task runs, someone else takes the seat.
    Registration.objects.filter(pk=late.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    other = eligible(offering, email="other@denver911.example.gov")
    other_url = checkout.checkout_start(other)
    assert pay(standin, late_url) == 303
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    late.refresh_from_db()
    assert late.state == S.REFUNDED and late.needs_attention
    assert pay(standin, other_url) == 303
    deliver(client, completed_for(standin, other_url))
    other.refresh_from_db()
    assert other.state == S.CONFIRMED
    assert queries.seats_taken(offering) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2, 3]",
        b'{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}',
        b'{"id": "evt_2", "type": "checkout.session.completed", "data": {}}',
        b'"just a string"',
    ],
)
def test_signed_but_malformed_events_get_400(client, standin, body):
    import time as clock

    from devtools.stripe_standin import sign

    signature = sign(body, "whsec_citreg_payments", int(clock.time()))
    response = client.post(
        "/payments/stripe/webhook/", body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )  # fmt: skip
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_signature_from_the_future_is_refused(client, standin, course):
    registration = eligible(open_offering(course))
    pay(standin, checkout.checkout_start(registration))
    [event] = events(standin, "checkout.session.completed")
    future = int(timezone.now().timestamp()) + 3600
    assert deliver(client, event, timestamp=future).status_code == 400
