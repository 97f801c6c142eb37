"""``devtools/seed_demo_payments.py``: the demo's paid registrations get a PaymentIntent at the
stand-in's state file, so refunding them in the default run works; run twice, nothing doubles."""

import pytest

from devtools import seed_demo_payments
from devtools.stripe_standin.config import Config
from devtools.stripe_standin.server import StandinServer
from registrations.enums import PaymentStatus
from registrations.models import Registration
from registrations.payments.models import Payment
from tests.factories import make_offering, next_date, registration_in

pytestmark = pytest.mark.django_db


def loaded(state_file) -> StandinServer:
    return StandinServer(Config(port=0, state_file=str(state_file)))


def test_paid_demo_payments_become_refundable_at_the_standin(course, tmp_path, monkeypatch):
    state_file = tmp_path / "standin.json"
    monkeypatch.setenv("STRIPE_STANDIN_STATE_FILE", str(state_file))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    registration = registration_in(
        Registration.State.CONFIRMED, make_offering(course, next_date(7, 8))
    )
    payment = Payment.objects.create(
        registration=registration,
        status=PaymentStatus.PAID,
        amount_cents=25000,
        amount_refunded_cents=5000,
        idempotency_key="demo:one",
    )
    unpaid = Payment.objects.create(
        registration=registration,
        status=PaymentStatus.FAILED,
        amount_cents=25000,
        idempotency_key="demo:two",
    )

    seed_demo_payments.main()
    seed_demo_payments.main()  # nothing left to record

    payment.refresh_from_db()
    unpaid.refresh_from_db()
    assert payment.stripe_payment_intent_id.startswith("pi_")
    assert unpaid.stripe_payment_intent_id == ""
    standin = loaded(state_file)
    try:
        assert len(standin.store.payment_intents) == 1
        refund = standin.store.create_refund(
            {"payment_intent": payment.stripe_payment_intent_id, "amount": "20000"}
        )
        assert refund["status"] == "succeeded"
        with pytest.raises(Exception, match="already been refunded"):
            standin.store.create_refund(
                {"payment_intent": payment.stripe_payment_intent_id, "amount": "1"}
            )
    finally:
        standin.httpd.server_close()


def test_nothing_is_recorded_when_a_stripe_key_is_configured(course, tmp_path, monkeypatch):
    state_file = tmp_path / "standin.json"
    monkeypatch.setenv("STRIPE_STANDIN_STATE_FILE", str(state_file))
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_configured")
    registration = registration_in(
        Registration.State.CONFIRMED, make_offering(course, next_date(7, 8))
    )
    payment = Payment.objects.create(
        registration=registration,
        status=PaymentStatus.PAID,
        amount_cents=25000,
        idempotency_key="demo:three",
    )

    seed_demo_payments.main()

    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id == ""
    assert not state_file.exists()
