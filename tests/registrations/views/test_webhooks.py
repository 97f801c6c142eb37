"""``registrations.views.webhooks``: a bad, stale, future or missing signature and malformed
events get 400 and change nothing."""

import json

import pytest
from django.utils import timezone

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import WebhookEvent
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import deliver, eligible, events, pay

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
