"""``registrations.payments.refunds``: partial and full refunds from the admin, a provider error
changes nothing, an automatic refund is announced once."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import checkout, refunds
from registrations.payments import refunds as tasks  # fmt: skip
from registrations.payments.gateway import gateway
from registrations.payments.models import Payment, Refund
from registrations.seats import booking, queries
from tests.registrations.helpers import eager_retries, open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    confirmed,
    deliver,
    eligible,
    events,
    one_seat_class,
    pay,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_partial_then_full_refund_from_the_admin(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    url = "/admin/registrations/registration/"
    form = admin_client.post(url, {"action": "refund_only", "_selected_action": [registration.pk]})
    assert f"Refund to {registration.full_name} (USD)".encode() in form.content
    admin_client.post(
        url,
        {
            "action": "refund_only",
            "_selected_action": [registration.pk],
            "apply": "1",
            f"amount-{registration.pk}": "100.00",
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


def test_automatic_refund_is_announced_once(course, standin, client):
    offering = one_seat_class(course)
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    pay(standin, url)
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    with mock.patch.object(tasks.execute_refund, "delay"):  # the worker is a little late
        deliver(client, completed_for(standin, url))
    refund = Refund.objects.get()
    gateway().refund_create(
        payment_intent_id=refund.payment.stripe_payment_intent_id,
        amount_cents=refund.amount_cents, idempotency_key=refund.idempotency_key,
        reason=refund.reason,
    )  # fmt: skip
    [refunded] = events(standin, "charge.refunded")
    deliver(client, refunded)  # Stripe's webhook wins the race
    refunds.refund_execute(refund.pk)
    assert OutboundEmail.objects.filter(registration=late, kind="refund_issued").count() == 1


# ------------------------------------------------ a refund that lost its task or request


def pending_refund(course, standin, client, amount_cents: int = 5000) -> Refund:
    """A confirmed registration's refund, recorded pending, whose request died before it was
    issued."""
    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get(registration=registration)
    return refunds.refund_request(payment=payment, amount_cents=amount_cents, reason="Goodwill")


def stripe_refunds(standin) -> list[dict]:
    with standin.store.lock:
        return list(standin.store.refunds.values())


def test_a_missing_refund_row_is_retried_then_logged_and_failed(monkeypatch, caplog):
    retries: list[int] = []
    monkeypatch.setattr(outbox, "row_retry_countdown", lambda n: retries.append(n) or 0.0)
    with eager_retries(), caplog.at_level("ERROR", logger="citreg.tasks"):
        result = refunds.execute_refund.delay(987654)
    assert result.state == "FAILURE" and isinstance(result.result, outbox.RowMissing)
    assert retries == [0, 1, 2, 3, 4]
    assert "task=registrations.execute_refund model=Refund id=987654" in caplog.text


def test_a_refund_committed_after_the_first_attempt_is_issued_by_a_retry(
    course, standin, client, monkeypatch
):
    refund = pending_refund(course, standin, client)
    fields = {f.attname: getattr(refund, f.attname) for f in Refund._meta.concrete_fields}
    refund.delete()

    def committed_now(retries: int) -> float:
        Refund.objects.create(**fields)
        return 2.0

    monkeypatch.setattr(outbox, "row_retry_countdown", committed_now)
    with eager_retries():
        result = refunds.execute_refund.delay(fields["id"])
    assert (result.state, result.result) == ("SUCCESS", "succeeded")
    assert Payment.objects.get().amount_refunded_cents == 5000
    assert [r["amount"] for r in stripe_refunds(standin)] == [5000]


def test_a_pending_refund_whose_request_died_is_issued_by_the_sweep(course, standin, client):
    refund = pending_refund(course, standin, client)
    assert refunds.retry_pending_refunds.delay().get() == 0  # young: its request may be running

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert refunds.retry_pending_refunds.delay().get() == 1
        assert refunds.retry_pending_refunds.delay().get() == 0  # done once
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED and refund.stripe_refund_id
    assert Payment.objects.get().amount_refunded_cents == 5000


def test_a_refund_made_at_stripe_whose_answer_was_lost_is_not_made_twice(course, standin, client):
    refund = pending_refund(course, standin, client)
    made = gateway().refund_create(
        payment_intent_id=refund.payment.stripe_payment_intent_id,
        amount_cents=refund.amount_cents, idempotency_key=refund.idempotency_key,
        reason=refund.reason,
    )  # fmt: skip

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        refunds.retry_pending_refunds.delay()
    refund.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == (Refund.Status.SUCCEEDED, made)
    assert [r["id"] for r in stripe_refunds(standin)] == [made]


def test_a_refund_pending_for_a_day_is_flagged_not_replayed(course, standin, client):
    refund = pending_refund(course, standin, client)
    day_ago = timezone.now() - timedelta(hours=24)
    Refund.objects.filter(pk=refund.pk).update(created_at=day_ago, updated_at=day_ago)

    assert refunds.refunds_retry_pending() == []
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED and "check the payment" in refund.error
    registration = refund.payment.registration
    registration.refresh_from_db()
    assert registration.needs_attention and f"Refund {refund.pk} failed" in (
        registration.attention_reason
    )
    assert stripe_refunds(standin) == []
