"""Stripe's events: store each event once, dispatch it to its handler, record what it became.

The HTTP endpoint (``registrations.views.webhooks``) verifies the signature (``gateway``) and
calls ``handle_event``. Each event id is stored once (unique); a duplicate delivery of an event
already handled does nothing, whatever its outcome, so a replay of a refused event is still
recognised. Handlers (``settlement``) are idempotent and order-independent.

Each stored event gets an ``outcome`` (``WebhookEvent.Outcome``) and, when it changed nothing, a
``detail`` saying why:

- ``processed``: its handler ran.
- ``ignored``: a type citreg does not use (Stripe's advice: answer 200).
- ``refused``: not money citreg asked for (a session it did not create, an amount or currency
  other than the one it stored, a PaymentIntent that is not its own; the trust rule is in
  ``settlement``'s docstring). Whatever the handler did is rolled back, staff are
  alerted once (``settlement.report_refused``), no registration changes and nothing is refunded.
- ``malformed``: signed, but its object lacks the fields (or types) citreg reads. Nothing
  changes.

All three of the last are answered 200, so Stripe stops retrying an event that can never be
processed. An event about a payment of citreg's that is not known yet (``NotYetKnown``) is not
stored at all: the view answers 503 and Stripe delivers it again later.
"""

import logging
import re
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import settlement
from .gateway import BadWebhook
from .models import WebhookEvent

logger = logging.getLogger("citreg.payments")

Outcome = WebhookEvent.Outcome

HANDLERS: dict[str, Callable[[dict], None]] = {
    "checkout.session.completed": settlement.checkout_completed,
    "checkout.session.async_payment_succeeded": settlement.checkout_completed,
    "checkout.session.async_payment_failed": settlement.payment_failed,
    "checkout.session.expired": settlement.session_expired,
    "charge.refunded": settlement.charge_refunded,
    "charge.dispute.created": settlement.dispute_created,
}

# Stripe's event ids (``evt_…``) and types (``checkout.session.completed``), within the columns.
_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
_EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
# Stripe's events nest a few levels; deeper ones are not events (and could exhaust the stack).
MAX_DEPTH = 32
# PostgreSQL's jsonb and text refuse NUL characters and lone surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DETAIL_CHARS = 1000


def handle_event(event: dict) -> bool:
    """Store and handle one verified event (``gateway.parse_event``'s dict).

    The whole handling runs in one transaction with the stored event, so an error leaves no
    trace and Stripe's retry handles it again.

    Returns: False when the event had been handled already (a replay), else True.

    Raises:
        BadWebhook: the event's id or type is not Stripe's, or it nests deeper than
            ``MAX_DEPTH`` (nothing is stored; the view answers 400).
        settlement.NotYetKnown: it concerns a payment of citreg's not known yet (nothing is
            stored; the view answers 503 so Stripe retries).
        PaymentProviderError, OperationalError: Stripe or the database could not answer now
            (nothing is stored; the view answers 503).
    """
    event_id, event_type = event.get("id"), event.get("type")
    if not (isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)):
        raise BadWebhook("the event's id is not a Stripe event id")
    if not (isinstance(event_type, str) and _EVENT_TYPE.fullmatch(event_type)):
        raise BadWebhook("the event's type is not a Stripe event type")
    if _depth(event) > MAX_DEPTH:
        raise BadWebhook(f"the event nests deeper than {MAX_DEPTH} levels")
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    stripe_event_id=event_id, type=event_type, payload=_storable(event)
                )
        except IntegrityError:
            stored = WebhookEvent.objects.select_for_update().get(stripe_event_id=event_id)
            WebhookEvent.objects.filter(pk=stored.pk).update(deliveries=stored.deliveries + 1)
            if stored.processed_at is not None:
                logger.info("payments.webhook_replay id=%s outcome=%s", event_id, stored.outcome)
                return False
        outcome, detail = _dispatch(event_id, event_type, event)
        WebhookEvent.objects.filter(pk=stored.pk).update(
            outcome=outcome,
            detail=_storable(detail)[:MAX_DETAIL_CHARS],
            processed_at=timezone.now(),
        )
    logger.info("payments.webhook id=%s type=%s outcome=%s", event_id, event_type, outcome)
    return True


def _dispatch(event_id: str, event_type: str, event: dict) -> tuple[str, str]:
    """Run the event's handler in a savepoint; returns its outcome and detail."""
    handler = HANDLERS.get(event_type)
    if handler is None:
        return Outcome.IGNORED, ""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        why = "data.object is missing or not an object"
    else:
        try:
            with transaction.atomic():  # a refused or malformed event leaves no trace
                handler(obj)
        except settlement.Malformed as exc:
            why = f"data.object.{exc}"
        except settlement.Refused as refusal:
            settlement.report_refused(event_id, event_type, refusal)
            return Outcome.REFUSED, refusal.reason
        else:
            return Outcome.PROCESSED, ""
    logger.warning("payments.event_malformed id=%s type=%s reason=%s", event_id, event_type, why)
    return Outcome.MALFORMED, why


def _depth(value: Any) -> int:
    """How deeply ``value`` (parsed JSON) nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _storable(value: Any) -> Any:
    """``value`` (parsed JSON, at most ``MAX_DEPTH`` deep) with the characters PostgreSQL cannot
    store replaced by U+FFFD; the event itself is handled as received."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value
