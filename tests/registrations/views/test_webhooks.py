"""``registrations.views.webhooks``: a bad, stale, future or missing signature and a body that is
not an event get 400 and change nothing; a signed event with a malformed object is recorded and
answered 200 (never 500)."""

import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import WebhookEvent
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    deliver,
    eligible,
    events,
    made_up_event,
    pay,
    signed_post,
)

S = Registration.State
pytestmark = pytest.mark.django_db(transaction=True)


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


@pytest.mark.django_db  # no commits needed: the fast, rolled-back database
@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2, 3]",
        b'"just a string"',
        b"{not json",
        b'{"type": "checkout.session.completed", "data": {"object": {}}}',
        b'{"id": 7, "type": "checkout.session.completed", "data": {"object": {}}}',
        b'{"id": "evt_\\u0000", "type": "checkout.session.completed", "data": {}}',
        b'{"id": "evt_1", "type": "x", "data": {"object": {"amount_total": NaN}}}',
        b'{"id": "evt_1", "type": "x", "data": {"object": {"amount_total": 1e999}}}',
        b'{"id": "evt_1", "type": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"id": "evt_1", "type": "x", "data": ' + b"[" * 40 + b"]" * 40 + b"}",
        b"\xff\xfe",
    ],
)
def test_signed_bodies_that_are_not_events_get_400_and_store_nothing(client, standin, body):
    assert signed_post(client, body).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db  # no commits needed: the fast, rolled-back database
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}',
         "data.object.id is missing"),
        (b'{"id": "evt_2", "type": "checkout.session.completed", "data": {}}',
         "data.object is missing"),
        (b'{"id": "evt_3", "type": "charge.refunded", "data": {"object": [1]}}',
         "not an object"),
        (b'{"id": "evt_4", "type": "checkout.session.completed"}', "data.object is missing"),
    ],
)  # fmt: skip
def test_signed_events_with_a_malformed_object_are_recorded_and_answered_200(
    client, standin, body, reason
):
    assert signed_post(client, body).status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.outcome == WebhookEvent.Outcome.MALFORMED and reason in stored.detail
    assert stored.processed_at is not None
    # A retry is the same event: recognised, not handled again.
    assert signed_post(client, body).status_code == 200
    assert WebhookEvent.objects.get().deliveries == 2


@pytest.mark.django_db  # no commits needed: the fast, rolled-back database
def test_the_timestamp_of_a_signature_header_is_read_safely(client, standin):
    body = b'{"id": "evt_1", "type": "x", "data": {"object": {}}}'
    for header in ("t=\u00b2,v1=00", "t=,v1=00", "v1=00", "t=99999999999999999999999,v1=00"):
        response = client.post(
            "/payments/stripe/webhook/", body, content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )  # fmt: skip
        assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_signature_from_the_future_is_refused(client, standin, course):
    registration = eligible(open_offering(course))
    pay(standin, checkout.checkout_start(registration))
    [event] = events(standin, "checkout.session.completed")
    future = int(timezone.now().timestamp()) + 3600
    assert deliver(client, event, timestamp=future).status_code == 400


@pytest.mark.django_db
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(min_size=1, max_size=200).filter(lambda h: "\x00" not in h))
def test_any_signature_header_is_refused_with_400(client, standin, header):
    """Whatever a client puts in ``Stripe-Signature`` (non-ASCII, ``v1=é``, garbage) is a 400:
    Stripe's own comparison raises on non-ASCII text, which must not become a 500."""
    for value in (header, f"t=1,v1={header}", f"t={header},v1=00"):
        response = client.post(
            "/payments/stripe/webhook/", b"{}", content_type="application/json",
            HTTP_STRIPE_SIGNATURE=value,
        )  # fmt: skip
        assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db  # no commits needed: the fast, rolled-back database
def test_an_unknown_payment_intent_while_stripe_is_unreachable_is_retried(
    client, standin, settings
):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # asking Stripe whose PaymentIntent it is fails
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount_refunded": 100}
    response = deliver(client, made_up_event("charge.refunded", charge))
    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()  # Stripe delivers it again later
