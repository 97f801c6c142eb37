"""``registrations.payments.webhooks``: each event is stored once, dispatched and given an
outcome; duplicates, unknown types, refused and malformed events are answered 200, never 500."""

import copy
import json

import pytest
from django.core import mail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment, WebhookEvent
from registrations.payments.webhooks import HANDLERS
from registrations.seats import queries
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    confirmed,
    deliver,
    eligible,
    events,
    made_up_event,
    pay,
    signed_post,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


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
    stored = WebhookEvent.objects.get()
    assert (stored.deliveries, stored.outcome) == (2, WebhookEvent.Outcome.PROCESSED)
    assert [m.subject for m in mail.outbox] == [
        f"Confirmed: {course.title}, {offering.date_label}, day class"
    ]
    assert queries.seats_taken(offering) == 1


def test_unknown_event_types_are_answered_200(client, standin, db):
    event = {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert deliver(client, event).status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is not None and stored.outcome == WebhookEvent.Outcome.IGNORED
    # Whatever its object, a type citreg does not use is only recorded.
    assert deliver(client, made_up_event("invoice.paid", [1, "x"])).status_code == 200
    assert WebhookEvent.objects.filter(outcome="ignored").count() == 2


@pytest.mark.django_db  # nothing here needs a commit: the faster database
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("amount_total", "25000", "amount_total is '25000', not whole cents"),
        ("amount_total", 250.5, "amount_total is a number, not whole cents"),
        ("amount_total", True, "amount_total is a boolean, not whole cents"),
        ("amount_total", -1, "amount_total is -1, not whole cents"),
        ("currency", 840, "currency is 840, not text"),
        ("id", None, "id is missing, not a Stripe id"),
        ("id", "cs_\u0000", "id is text, not a Stripe id"),
        ("payment_status", ["paid"], "payment_status is a list, not a status code"),
        ("payment_intent", {"id": "pi_1"}, "payment_intent is an object, not a Stripe id"),
        ("metadata", "nonce", "metadata is 'nonce', not metadata"),
        ("metadata", {"nonce": 7}, "metadata is an object, not metadata"),
    ],
)
def test_a_malformed_session_is_recorded_and_changes_nothing(
    course, standin, client, field, value, reason
):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    event = copy.deepcopy(completed_for(standin, url))
    event["data"]["object"][field] = value
    assert deliver(client, event).status_code == 200
    stored = WebhookEvent.objects.get()
    assert (stored.outcome, stored.detail) == ("malformed", f"data.object.{reason}")
    registration.refresh_from_db()
    assert registration.state == S.HELD and not registration.needs_attention
    assert Payment.objects.get().status == "open"
    # Retried, it is the same event: answered 200, not handled again.
    assert deliver(client, event).status_code == 200
    assert WebhookEvent.objects.get().deliveries == 2


def test_a_malformed_refund_amount_is_recorded_and_changes_nothing(course, standin, client):
    registration = confirmed(open_offering(course), standin, client)
    intent = Payment.objects.get().stripe_payment_intent_id
    charge = {"id": "ch_1", "object": "charge", "payment_intent": intent, "amount_refunded": "all"}
    event = made_up_event("charge.refunded", charge)
    assert deliver(client, event).status_code == 200
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert stored.outcome == "malformed" and "amount_refunded" in stored.detail
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    assert Payment.objects.get().amount_refunded_cents == 0


@pytest.mark.django_db  # nothing here needs a commit: the faster database
def test_unstorable_characters_are_replaced_in_the_stored_payload(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    event = copy.deepcopy(completed_for(standin, url))
    event["data"]["object"]["customer_details"]["name"] = "Ana\u0000\ud800"
    assert deliver(client, event).status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.outcome == "processed"
    assert stored.payload["data"]["object"]["customer_details"]["name"] == "Ana\ufffd\ufffd"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Objects shaped like Stripe's, with valid-looking fields of which up to three are removed or
# replaced by any JSON at all; or any JSON instead of an object.
FIELDS = {
    "id": st.sampled_from(["cs_1", "ch_1", "dp_1", "cs_stored"]),
    "amount_total": st.sampled_from([25000, 1, 0, None]),
    "amount_refunded": st.integers(min_value=0, max_value=30000),
    "currency": st.sampled_from(["usd", "eur", "USD", None]),
    "payment_status": st.sampled_from(["paid", "unpaid", "no_payment_required"]),
    "payment_intent": st.sampled_from(["pi_1", None, "pi_stored"]),
    "metadata": st.dictionaries(
        st.sampled_from(["registration", "payment", "nonce"]), st.text(max_size=50), max_size=3
    ),
    "reason": st.sampled_from(["fraudulent", None]),
}


@st.composite
def objects(draw) -> object:
    if draw(st.sampled_from(["shaped", "shaped", "shaped", "any"])) == "any":
        return draw(JSON)
    obj = draw(st.fixed_dictionaries(FIELDS))
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        if draw(st.booleans()):
            del obj[key]
        else:
            obj[key] = draw(JSON)
    return obj


def _a_stored_payment(course) -> None:
    """A payment of citreg's with session ``cs_stored`` and PaymentIntent ``pi_stored`` (made
    once: the examples share the test's transaction, so it may be in any state later)."""
    if Payment.objects.filter(stripe_checkout_session_id="cs_stored").exists():
        return
    registration = eligible(open_offering(course))
    Registration.objects.filter(pk=registration.pk).update(state=S.HELD)
    Payment.objects.create(
        registration=registration, amount_cents=25000, currency="usd", status="open",
        idempotency_key="stored", nonce="n" * 43, stripe_checkout_session_id="cs_stored",
        stripe_payment_intent_id="pi_stored",
    )  # fmt: skip


@pytest.mark.django_db  # each example in the rolled-back test transaction: no refund is sent
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event_type=st.sampled_from([*HANDLERS, "customer.created"]),
    obj=objects(),
    wrapped=st.sampled_from([True, True, True, True, False]),
)
def test_any_json_as_the_object_never_answers_500(
    course, client, standin, event_type, obj, wrapped
):
    _a_stored_payment(course)
    event = made_up_event(event_type, obj)
    if not wrapped:
        event["data"] = obj  # the object is missing; ``data`` itself is anything
    response = signed_post(client, json.dumps(event).encode())
    if response.status_code == 400:  # not storable as an event (e.g. NaN): nothing recorded
        assert not WebhookEvent.objects.filter(stripe_event_id=event["id"]).exists()
        return
    assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.get(stripe_event_id=event["id"])
    assert stored.outcome in ("processed", "ignored", "refused", "malformed")
