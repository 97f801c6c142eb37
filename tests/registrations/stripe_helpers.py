"""The Stripe stand-in as a test fixture, and helpers to pay, read events and deliver them signed
exactly as Stripe signs them."""

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from devtools.stripe_standin import Config, StandinServer, sign
from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.gateway import CheckoutSession, gateway
from registrations.payments.models import Payment
from registrations.seats import booking
from registrations.transitions import Actor, registration_transition
from tests.registrations.helpers import form_data, open_offering

KEY = "sk_test_citreg_payments"
WHSEC = "whsec_citreg_payments"
WEBHOOK = "/payments/stripe/webhook/"
FIELDS = {
    "first_name", "last_name", "role", "employer_name", "employer_city", "employer_state",
    "work_email", "supervisor_name", "supervisor_email",
}  # fmt: skip


@contextmanager
def running_standin(settings, webhook_url: str = "") -> Iterator[StandinServer]:
    """Start the stand-in on a free port and point the app's Stripe settings at it."""
    server = StandinServer(
        Config(
            port=0,
            secret_key=KEY,
            webhook_url=webhook_url,
            webhook_secret=WHSEC,
            retry_schedule=(0.3, 0.6, 1.2),
            async_delay=0.3,
            tick=0.05,
            delivery_timeout=5,
        )
    )
    server.start()
    settings.STRIPE_SECRET_KEY = KEY
    settings.STRIPE_WEBHOOK_SECRET = WHSEC
    settings.STRIPE_API_BASE = server.base_url
    try:
        yield server
    finally:
        server.stop()


def eligible(offering, email: str = "ana@denver911.example.gov", **extra) -> Registration:
    """A registration that has passed the eligibility gate (via legal transitions)."""
    now = timezone.now()
    data = {k: v for k, v in form_data().items() if k in FIELDS}
    registration = Registration.objects.create(
        offering=offering, email=email, attested_at=now, participation_acknowledged_at=now,
        terms_accepted_at=now, **{**data, **extra},
    )  # fmt: skip
    registration_transition(
        registration_id=registration.pk, to_state="eligible", actor=Actor.system()
    )
    registration.refresh_from_db()
    return registration


def confirmed(offering, standin, client, email="ana@denver911.example.gov") -> Registration:
    """A registration that has paid at the stand-in and been confirmed by the webhook."""
    registration = eligible(offering, email=email)
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    assert deliver(client, completed_for(standin, url)).status_code == 200
    registration.refresh_from_db()
    assert registration.state == Registration.State.CONFIRMED
    return registration


def one_seat_class(course):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    return offering


def offer_to_second_person(offering):
    """Two registrants for a one-seat class: the first's hold lapses, so the second (on the
    waitlist) is offered the seat; returns the second."""
    first = eligible(offering, email="a@denver911.example.gov")
    checkout.checkout_start(first)
    second = booking.join_waitlist(eligible(offering, email="b@denver911.example.gov"))
    booking.release_seat(first.pk, reason="Seat hold expired unpaid.")
    second.refresh_from_db()
    assert second.state == Registration.State.HELD and second.hold_is_offer
    return second


def standin_get(server: StandinServer, path: str) -> dict:
    with urllib.request.urlopen(f"{server.base_url}{path}", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def standin_post(server: StandinServer, path: str, data: dict | None = None) -> int:
    body = urllib.parse.urlencode(data or {}).encode()
    request = urllib.request.Request(f"{server.base_url}{path}", data=body, method="POST")  # noqa: S310
    request.add_header("Authorization", f"Bearer {KEY}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def pay(server: StandinServer, checkout_url: str, action: str = "pay", **form: str) -> int:
    """Press a button on the stand-in's hosted checkout page; returns the HTTP status."""
    path = checkout_url.split(server.base_url, 1)[1]
    return standin_post(server, path, {"action": action, **form})


def events(server: StandinServer, event_type: str | None = None) -> list[dict]:
    """Events the stand-in has created, oldest first."""
    query = f"?type={event_type}" if event_type else ""
    return standin_get(server, f"/_standin/events{query}")["data"]


def completed_for(server: StandinServer, session_url: str) -> dict:
    """The ``checkout.session.completed`` event of the session behind ``session_url``."""
    session_id = session_url.rstrip("/").rsplit("/", 1)[-1]
    return next(
        e for e in events(server, "checkout.session.completed")
        if e["data"]["object"]["id"] == session_id
    )  # fmt: skip


def deliver(
    client: Client, event: dict, *, secret: str = WHSEC, timestamp: int | None = None,
    body: bytes | None = None,
):  # fmt: skip
    """POST ``event`` to the app's webhook, signed as Stripe signs it."""
    payload = body if body is not None else json.dumps(event).encode()
    signature = sign(json.dumps(event).encode() if body is not None else payload, secret,
                     timestamp or int(time.time()))  # fmt: skip
    return client.post(
        WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def signed_post(client: Client, body: bytes, *, secret: str = WHSEC):
    """POST raw ``body`` to the app's webhook with a valid signature (any bytes, even not JSON)."""
    signature = sign(body, secret, int(time.time()))
    return client.post(
        WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def session_id(checkout_url: str) -> str:
    """The ``cs_…`` id in a stand-in checkout URL."""
    return checkout_url.rstrip("/").rsplit("/", 1)[-1]


def unstored_session(
    registration: Registration, *, amount_cents: int = 1, currency: str = "eur",
    metadata: dict[str, str] | None = None,
) -> CheckoutSession:  # fmt: skip
    """A Checkout Session made at the stand-in whose id citreg never stored, naming
    ``registration`` as ``client_reference_id``: with no ``metadata`` it is foreign (as a
    Payment Link with ``?client_reference_id=`` on the same account would make it); with
    ``citreg_metadata(payment)`` it is one citreg created but lost track of."""
    return gateway().checkout_session_create(
        amount_cents=amount_cents, currency=currency, product_name="Something else",
        customer_email="someone@example.org", client_reference_id=str(registration.pk),
        metadata=metadata or {}, idempotency_key=f"foreign-{uuid.uuid4().hex}",
        expires_at=timezone.now() + timedelta(hours=1), success_url="https://x.example.org/",
        cancel_url="https://x.example.org/",
    )  # fmt: skip


def made_up_event(event_type: str, obj: object) -> dict:
    """A Stripe-shaped event around ``obj`` with a fresh id (sign it with ``deliver``)."""
    return {
        "id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type,
        "created": int(time.time()), "data": {"object": obj},
    }  # fmt: skip


def citreg_metadata(payment: Payment) -> dict[str, str]:
    """The metadata ``checkout`` writes into the sessions it creates for ``payment``."""
    return {
        "registration": str(payment.registration_id), "payment": str(payment.pk),
        "nonce": payment.nonce,
    }  # fmt: skip
