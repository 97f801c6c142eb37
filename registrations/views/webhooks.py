"""The Stripe webhook endpoint: verify, hand to ``payments.webhooks``, answer.

Bad or missing signature, stale timestamp, a body that is not JSON or not an event with a
Stripe id and type → 400 and nothing changes. A signed event that is stored answers 200 whatever
became of it: processed, ignored (a type citreg does not use), refused (not money citreg asked
for) or malformed (its object lacks what citreg reads); the reason is in the stored event, and
Stripe stops retrying. A lock timeout, a database error or Stripe being unreachable (asked about
an unknown PaymentIntent) answers 503 so Stripe retries (pretix does the same); so does an event
about a payment of citreg's not yet known (its introducing event comes first on a retry).
"""

import logging

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from registrations.payments import settlement
from registrations.payments.gateway import BadWebhook, PaymentProviderError, gateway
from registrations.payments.webhooks import handle_event

logger = logging.getLogger("citreg.payments")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """POST /payments/stripe/webhook/ — Stripe's event deliveries."""
    try:
        event = gateway().parse_event(request.body, request.headers.get("Stripe-Signature"))
        handle_event(event)
    except BadWebhook as exc:
        logger.warning("payments.webhook_rejected reason=%s", exc)
        return HttpResponse("invalid webhook", status=400, content_type="text/plain")
    except (OperationalError, PaymentProviderError) as exc:
        logger.warning("payments.webhook_busy id=%s reason=%s", event["id"], type(exc).__name__)
        return HttpResponse("busy, retry", status=503, content_type="text/plain")
    except settlement.NotYetKnown as exc:
        # Nothing was stored (the transaction rolled back): Stripe delivers it again later,
        # after the checkout.session.completed that introduces the payment.
        logger.info("payments.webhook_early id=%s reason=%s", event["id"], exc)
        return HttpResponse("not yet known, retry", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
