"""The Stripe webhook endpoint: verify, store each event once, dispatch, answer.

Bad or missing signature, stale timestamp or malformed JSON → 400 and nothing changes. Each event
id is stored once (unique); a duplicate delivery of an event already processed answers 200
without doing anything. Handlers (``registrations.settlement``) are idempotent and
order-independent. Event types citreg does not use are answered 200 (Stripe's advice). A lock
timeout answers 503 so Stripe retries (pretix does the same).
"""

import logging
from collections.abc import Callable

from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import payments, settlement
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


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """POST /payments/stripe/webhook/ — Stripe's event deliveries."""
    try:
        event = payments.parse_event(request.body, request.headers.get("Stripe-Signature"))
    except payments.BadWebhook as exc:
        logger.warning("payments.webhook_rejected reason=%s", exc)
        return HttpResponse("invalid webhook", status=400, content_type="text/plain")
    try:
        handle_event(event)
    except OperationalError:
        logger.warning("payments.webhook_busy id=%s", event["id"])
        return HttpResponse("busy, retry", status=503, content_type="text/plain")
    except settlement.NotYetKnown as exc:
        # Nothing was stored (the transaction rolled back): Stripe delivers it again later,
        # after the checkout.session.completed that introduces the payment.
        logger.info("payments.webhook_early id=%s reason=%s", event["id"], exc)
        return HttpResponse("not yet known, retry", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
