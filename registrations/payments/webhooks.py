"""Stripe's events: store each event once, dispatch it to its handler, record it processed.

The HTTP endpoint (``registrations.views.webhooks``) verifies the signature (``gateway``) and
calls ``handle_event``. Each event id is stored once (unique); a duplicate delivery of an event
already processed does nothing. Handlers (``settlement``) are idempotent and order-independent.
Event types citreg does not use are recorded and ignored (Stripe's advice: answer 200).
"""

import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import settlement
from .models import WebhookEvent

logger = logging.getLogger("citreg.payments")

HANDLERS: dict[str, Callable[[dict], None]] = {
    "checkout.session.completed": settlement.checkout_completed,
    "checkout.session.async_payment_succeeded": settlement.checkout_completed,
    "checkout.session.async_payment_failed": settlement.payment_failed,
    "checkout.session.expired": settlement.session_expired,
    "charge.refunded": settlement.charge_refunded,
    "charge.dispute.created": settlement.dispute_created,
}


def handle_event(event: dict) -> bool:
    """Store and process one verified event. Returns False when it had been processed already.

    The whole handling runs in one transaction with the stored event, so a failure leaves no
    trace and Stripe's retry processes it again.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    stripe_event_id=event["id"], type=event["type"], payload=event
                )
        except IntegrityError:
            stored = WebhookEvent.objects.select_for_update().get(stripe_event_id=event["id"])
            WebhookEvent.objects.filter(pk=stored.pk).update(deliveries=stored.deliveries + 1)
            if stored.processed_at is not None:
                return False
        handler = HANDLERS.get(event["type"])
        if handler is not None:
            handler(event["data"]["object"])
        WebhookEvent.objects.filter(pk=stored.pk).update(processed_at=timezone.now())
    logger.info("payments.webhook id=%s type=%s", event["id"], event["type"])
    return True
