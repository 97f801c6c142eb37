"""The payment services against an in-process gateway (``PAYMENT_GATEWAY``): the contract is all
they know of Stripe."""

import pytest

from registrations.enums import RegistrationState as S
from registrations.payments import checkout, refunds
from registrations.payments.gateway import PaymentGateway, PaymentProviderError, _load, gateway
from registrations.payments.models import Payment
from registrations.seats import queries
from tests.factories import registration_in
from tests.registrations.helpers import open_offering

from .fake_gateway import FakeGateway


@pytest.fixture
def fake(settings) -> FakeGateway:
    settings.PAYMENT_GATEWAY = "tests.registrations.payments.fake_gateway.FakeGateway"
    _load.cache_clear()
    yield gateway()
    _load.cache_clear()


def test_the_fake_satisfies_the_contract(fake):
    assert isinstance(fake, FakeGateway)
    contract: PaymentGateway = fake  # mypy checks the structure; here the methods exist
    for name in ("checkout_session_create", "checkout_session_expire", "checkout_session_status",
                 "checkout_session_find", "refund_create", "payment_intent_metadata",
                 "parse_event"):  # fmt: skip
        assert callable(getattr(contract, name))


@pytest.mark.django_db
def test_checkout_goes_through_the_configured_gateway(fake, course):
    registration = registration_in(S.ELIGIBLE, open_offering(course))
    url = checkout.checkout_start(registration)
    [(session_id, session)] = fake.sessions.items()
    assert url == session["url"]
    assert session["amount_cents"] == course.tuition_cents
    assert session["client_reference_id"] == str(registration.pk)
    payment = Payment.objects.get(registration=registration)
    assert payment.stripe_checkout_session_id == session_id
    assert payment.status == Payment.Status.OPEN
    registration.refresh_from_db()
    assert registration.state == S.HELD


@pytest.mark.django_db
def test_a_provider_outage_frees_the_seat_and_records_the_failed_checkout(fake, course):
    offering = open_offering(course)
    registration = registration_in(S.ELIGIBLE, offering)
    fake.fail_with = "Stripe: connection refused"
    with pytest.raises(checkout.CheckoutUnavailable):
        checkout.checkout_start(registration)
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert queries.seats_taken(offering) == 0
    assert Payment.objects.get(registration=registration).status == Payment.Status.FAILED


@pytest.mark.django_db
def test_a_refund_replayed_with_its_key_is_issued_once(fake, course):
    registration = registration_in(S.CONFIRMED, open_offering(course))
    payment = Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=25000,
        idempotency_key="paid-1",
        stripe_payment_intent_id="pi_fake_1",
    )
    refund = refunds.refund_request(payment=payment, amount_cents=5000, reason="Goodwill")
    refunds.refund_execute(refund.pk)
    refunds.refund_execute(refund.pk)  # already succeeded: nothing sent again
    assert [(r["payment_intent"], r["amount"]) for r in fake.refunds] == [("pi_fake_1", 5000)]
    payment.refresh_from_db()
    assert payment.amount_refunded_cents == 5000
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED  # a partial refund keeps the place


@pytest.mark.django_db
def test_a_refused_refund_changes_nothing_but_the_refund(fake, course):
    registration = registration_in(S.CONFIRMED, open_offering(course))
    payment = Payment.objects.create(
        registration=registration, status=Payment.Status.PAID, amount_cents=25000,
        idempotency_key="paid-2", stripe_payment_intent_id="pi_fake_2",
    )  # fmt: skip
    refund = refunds.refund_request(payment=payment, amount_cents=25000, reason="Cancelled")
    fake.fail_with = "Stripe: charge already refunded"
    with pytest.raises(PaymentProviderError):
        refunds.refund_execute(refund.pk)
    refund.refresh_from_db()
    payment.refresh_from_db()
    registration.refresh_from_db()
    assert refund.status == "failed" and "already refunded" in refund.error
    assert payment.amount_refunded_cents == 0
    assert registration.state == S.CONFIRMED
