"""``registrations.payments.settlement``: what Stripe's events do to registrations, idempotent and
in any order: paid, processing, failed, expired, refunded, disputed; late money is refunded."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import cancellation, checkout
from registrations.payments.gateway import CheckoutSession, PaymentProviderError, gateway
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.payments.stripe_gateway import StripeGateway
from registrations.seats import booking, queries
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    citreg_metadata,
    completed_for,
    confirmed,
    deliver,
    eligible,
    events,
    offer_to_second_person,
    one_seat_class,
    pay,
    standin_post,
    unstored_session,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


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


def test_waitlist_offer_outlives_its_checkout_session(course, standin, client):
    offered = offer_to_second_person(one_seat_class(course))
    url = checkout.checkout_start(offered)
    payment = Payment.objects.get(registration=offered)
    assert gateway().checkout_session_expire(url.rstrip("/").rsplit("/", 1)[-1])
    [expired] = events(standin, "checkout.session.expired")
    with time_machine.travel(payment.expires_at + timedelta(seconds=30)):
        deliver(client, expired)
    offered.refresh_from_db()
    assert offered.state == S.HELD  # about an hour of the 24-hour offer is left


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


def test_delayed_payment_after_its_hold_lapsed_does_not_oversell(course, standin, client):
    offering = one_seat_class(course)
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    assert pay(standin, url, action="delayed", delayed_outcome="succeeded") == 303
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    deliver(client, completed_for(standin, url))
    late.refresh_from_db()
    assert late.state == S.EXPIRED
    assert queries.seats_taken(offering) == 1


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


def test_refunding_a_duplicate_payment_keeps_the_paid_place(course, standin, client, admin_client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    deliver(client, completed_for(standin, url))
    kept = Payment.objects.get()
    # A second checkout of citreg's whose session id was never stored (Stripe's answer was lost,
    # so it was marked failed) is paid too: adopted by its metadata, refunded as a duplicate.
    lost = Payment.objects.create(
        registration=registration, amount_cents=25000, currency="usd", status="failed",
        idempotency_key="lost", nonce="n" * 43,
    )  # fmt: skip
    duplicate = unstored_session(
        registration, amount_cents=25000, currency="usd", metadata=citreg_metadata(lost)
    )
    pay(standin, duplicate.url)
    deliver(client, completed_for(standin, duplicate.url))
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED and registration.needs_attention
    lost.refresh_from_db()
    assert lost.stripe_checkout_session_id == duplicate.id
    assert lost.amount_refunded_cents == 25000
    assert Payment.objects.count() == 2
    assert cancellation.paid_payment(registration) == kept
    # Staff can still refund the payment that was kept.
    admin_client.post("/admin/registrations/registration/", {
        "action": "refund_only", "_selected_action": [registration.pk], "apply": "1",
        "amount": "", "reason": "Goodwill"})  # fmt: skip
    kept.refresh_from_db()
    assert kept.amount_refunded_cents == 25000


def test_a_refund_reported_before_the_payment_is_retried_not_lost(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    [completed] = events(standin, "checkout.session.completed")
    intent = completed["data"]["object"]["payment_intent"]
    gateway().refund_create(payment_intent_id=intent, amount_cents=25000, idempotency_key="dash")
    [refunded] = events(standin, "charge.refunded")
    assert deliver(client, refunded).status_code == 503  # not yet known: Stripe retries
    assert deliver(client, completed).status_code == 200
    assert deliver(client, refunded).status_code == 200
    registration.refresh_from_db()
    assert Payment.objects.get().amount_refunded_cents == 25000
    assert registration.state == S.REFUNDED


def test_dispute_flags_the_registration(course, standin, client):
    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get()

    assert standin_post(standin, "/_standin/disputes", {
        "payment_intent": payment.stripe_payment_intent_id}) == 200  # fmt: skip
    [dispute] = events(standin, "charge.dispute.created")
    deliver(client, dispute)
    deliver(client, dispute)
    registration.refresh_from_db()
    assert registration.needs_attention and "disputed" in registration.attention_reason
    assert registration.state == S.CONFIRMED


# --- Trust: only money citreg asked for ---------------------------------------------------------


def _snapshot(registration: Registration) -> tuple:
    """Everything a foreign event must not change: the registration, its history, its payments,
    refunds and emails (but the staff's alerts about refused events)."""
    registration.refresh_from_db()
    return (
        registration.state,
        registration.hold_expires_at,
        registration.needs_attention,
        registration.events.count(),
        list(Payment.objects.order_by("pk").values()),
        Refund.objects.count(),
        OutboundEmail.objects.exclude(kind="payment_alert").count(),
    )


def _payment_alerts() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind="payment_alert").order_by("pk"))


def _refused(event: dict) -> WebhookEvent:
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert stored.outcome == WebhookEvent.Outcome.REFUSED and stored.processed_at is not None
    return stored


@pytest.mark.parametrize(
    ("state", "amount_cents", "currency"),
    [("held", 1, "eur"), ("eligible", 1, "eur"), ("eligible", 25000, "usd")],
)
def test_a_session_citreg_did_not_create_changes_nothing(
    course, standin, client, state, amount_cents, currency
):
    registration = eligible(open_offering(course))
    if state == "held":
        checkout.checkout_start(registration)
    before = _snapshot(registration)
    # Same Stripe account, the registration's id as client_reference_id: even the right amount
    # is not enough, as nothing of citreg's names this session.
    foreign = unstored_session(registration, amount_cents=amount_cents, currency=currency)
    assert pay(standin, foreign.url) == 303
    event = completed_for(standin, foreign.url)
    assert event["data"]["object"]["client_reference_id"] == str(registration.pk)
    assert deliver(client, event).status_code == 200
    assert _snapshot(registration) == before
    assert registration.state == state
    assert not events(standin, "charge.refunded")  # no money that is not ours was refunded
    assert foreign.id in _refused(event).detail
    # Staff are told once, about the event (no registration can be trusted to carry it).
    (alert,) = _payment_alerts()
    assert alert.to_email == settings.TRAINING_ADMIN_EMAIL and alert.registration_id is None
    assert alert.context["event_id"] == event["id"] and foreign.id in alert.context["reason"]
    # A replay of the refused event is recognised as a duplicate and still changes nothing.
    assert deliver(client, event).status_code == 200
    assert WebhookEvent.objects.get(stripe_event_id=event["id"]).deliveries == 2
    assert _snapshot(registration) == before
    assert len(_payment_alerts()) == 1
    # Its later events are refused too: no refund or dispute of a PaymentIntent not ours.
    intent = event["data"]["object"]["payment_intent"]
    gateway().refund_create(
        payment_intent_id=intent, amount_cents=amount_cents, idempotency_key="r"
    )
    assert standin_post(standin, "/_standin/disputes", {"payment_intent": intent}) == 200
    for later in events(standin, "charge.refunded") + events(standin, "charge.dispute.created"):
        assert deliver(client, later).status_code == 200  # not 503: it can never become known
        assert intent in _refused(later).detail
    assert _snapshot(registration) == before
    assert len(_payment_alerts()) == 3  # one per refused event


@pytest.mark.parametrize(("field", "value"), [("amount_total", 1), ("currency", "eur")])
def test_a_stored_session_with_another_amount_or_currency_changes_nothing(
    course, standin, client, field, value
):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    event = completed_for(standin, url)
    event["data"]["object"][field] = value
    payment_before = list(Payment.objects.values())
    assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.HELD
    assert list(Payment.objects.values()) == payment_before  # still open, no PaymentIntent
    assert not Refund.objects.exists()
    stored = _refused(event)
    assert f"{field} {value if field == 'amount_total' else repr(value)}" in stored.detail
    # The payment is citreg's, so its registration is flagged for staff, once.
    assert registration.needs_attention and event["id"] in registration.attention_reason
    assert deliver(client, event).status_code == 200
    assert OutboundEmail.objects.filter(kind="staff_alert").count() == 1


class Crash(Exception):
    """The process died between Stripe's answer and citreg's save."""


def _lose_stripes_answer(monkeypatch, error: Exception) -> list[CheckoutSession]:
    """Make the next Checkout Session be created at Stripe but its answer lost (``error``
    raised instead); returns the list the created session is put in."""
    made: list[CheckoutSession] = []
    real = StripeGateway.checkout_session_create

    def create_then_lose(self, **params):
        made.append(real(self, **params))
        raise error

    monkeypatch.setattr(StripeGateway, "checkout_session_create", create_then_lose)
    return made


def test_a_session_citreg_created_but_never_stored_is_adopted(course, standin, client, monkeypatch):
    registration = eligible(open_offering(course))
    made = _lose_stripes_answer(monkeypatch, Crash())
    with pytest.raises(Crash):
        checkout.checkout_start(registration)
    monkeypatch.undo()
    payment = Payment.objects.get()
    assert (payment.status, payment.stripe_checkout_session_id) == ("creating", None)
    assert pay(standin, made[0].url) == 303
    event = completed_for(standin, made[0].url)
    assert event["data"]["object"]["metadata"]["nonce"] == payment.nonce
    assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    payment = Payment.objects.get()  # the same row: nothing invented from the event's amount
    assert (payment.status, payment.stripe_checkout_session_id) == ("paid", made[0].id)
    assert payment.stripe_payment_intent_id == event["data"]["object"]["payment_intent"]
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert (stored.outcome, stored.detail) == (WebhookEvent.Outcome.PROCESSED, "")


def test_a_session_whose_answer_timed_out_is_adopted_after_the_hold_ended(
    course, standin, client, monkeypatch
):
    registration = eligible(open_offering(course))
    made = _lose_stripes_answer(monkeypatch, PaymentProviderError("Stripe: timed out"))
    with pytest.raises(checkout.CheckoutUnavailable):
        checkout.checkout_start(registration)
    monkeypatch.undo()
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED and Payment.objects.get().status == "failed"
    assert pay(standin, made[0].url) == 303
    assert deliver(client, completed_for(standin, made[0].url)).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED  # a seat was still free
    assert Payment.objects.get().stripe_checkout_session_id == made[0].id


@pytest.mark.parametrize(
    ("change", "flagged"),
    [
        ({"metadata": {"nonce": "x" * 43}}, False),
        ({"metadata": {"payment": "999999"}}, False),
        ({"metadata": {"registration": "999999"}}, False),
        ({"metadata": None}, False),
        ({"amount_total": 1}, True),
        ({"currency": "eur"}, True),
    ],
)
def test_an_unstored_session_whose_metadata_or_amount_differ_is_refused(
    course, standin, client, monkeypatch, change, flagged
):
    registration = eligible(open_offering(course))
    made = _lose_stripes_answer(monkeypatch, Crash())
    with pytest.raises(Crash):
        checkout.checkout_start(registration)
    monkeypatch.undo()
    assert pay(standin, made[0].url) == 303
    event = completed_for(standin, made[0].url)
    session = event["data"]["object"]
    for key, value in change.items():
        session[key] = {**session[key], **value} if isinstance(value, dict) else value
    assert deliver(client, event).status_code == 200
    _refused(event)
    payment = Payment.objects.get()
    assert (payment.status, payment.stripe_checkout_session_id) == ("creating", None)
    registration.refresh_from_db()
    assert registration.state == S.HELD
    assert registration.needs_attention is flagged  # a payment of citreg's, with another amount
    assert not Refund.objects.exists()
