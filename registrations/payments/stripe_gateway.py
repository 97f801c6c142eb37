"""Stripe: the one module that imports ``stripe``, behind ``gateway.PaymentGateway``.

It creates and expires Checkout Sessions, creates refunds, reads a PaymentIntent's metadata and
verifies webhook signatures, through the official library with a pinned API version
(``STRIPE_API_VERSION``) and an overridable API base (``STRIPE_API_BASE``: the local stand-in in
development and tests). Nothing else in the project knows Stripe's shapes beyond the plain values
these methods return; what an event may change is decided by ``payments.settlement``.
"""

import json
import math
import time
from datetime import datetime

import stripe
from django.conf import settings

from .gateway import BadWebhook, CheckoutSession, PaymentProviderError

SIGNATURE_TOLERANCE_SECONDS = 300  # stripe.Webhook's default: older timestamps are refused.


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY or "sk_test_unset",
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
    )


def _error(exc: stripe.StripeError) -> PaymentProviderError:
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    return PaymentProviderError(f"Stripe: {message}")


class StripeGateway:
    """The ``PaymentGateway`` for Stripe (and the local stand-in, which speaks its protocol)."""

    def checkout_session_create(
        self,
        *,
        amount_cents: int,
        currency: str,
        product_name: str,
        customer_email: str,
        client_reference_id: str,
        metadata: dict[str, str],
        expires_at: datetime,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        """Create a Checkout Session (mode ``payment``, one line item) for one seat.

        Args:
            amount_cents: tuition in the currency's smallest unit (cents), integer.
            currency: ISO code, lower case ("usd").
            expires_at: aware datetime 30 min – 24 h ahead (Stripe refuses others).
            success_url: may contain ``{CHECKOUT_SESSION_ID}``, which Stripe fills in.
            idempotency_key: the same key returns the same session on a retried request
                (https://docs.stripe.com/api/idempotent_requests).

        Raises: PaymentProviderError when Stripe refuses or cannot be reached.
        """
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount_cents,
                        "product_data": {"name": product_name},
                    },
                }
            ],
            "customer_email": customer_email,
            "client_reference_id": client_reference_id,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": int(expires_at.timestamp()),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            session = _client().v1.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return CheckoutSession(id=session.id, url=session.url or "", expires_at=session.expires_at)

    def checkout_session_expire(self, session_id: str) -> bool:
        """Expire an open Checkout Session so it can no longer be paid.

        Returns True when it is expired now, False when it was no longer open (completed or already
        expired — Stripe refuses those with an invalid request error).
        Raises: PaymentProviderError when Stripe cannot be reached.
        """
        try:
            _client().v1.checkout.sessions.expire(session_id)
        except stripe.InvalidRequestError:
            return False
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return True

    def checkout_session_status(self, session_id: str) -> str:
        """The session's status at Stripe: "open", "complete" or "expired".

        Raises: PaymentProviderError when Stripe cannot be reached or does not know the session.
        """
        try:
            return _client().v1.checkout.sessions.retrieve(session_id).status or ""
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    def refund_create(
        self, *, payment_intent_id: str, amount_cents: int, idempotency_key: str, reason: str = ""
    ) -> str:
        """Refund ``amount_cents`` of a payment; returns the Stripe refund id.

        Raises: PaymentProviderError (e.g. more than the amount left, or Stripe unreachable).
        """
        params: stripe.params.RefundCreateParams = {
            "payment_intent": payment_intent_id,
            "amount": amount_cents,
        }
        if reason:
            params["metadata"] = {"reason": reason[:500]}
        try:
            refund = _client().v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return refund.id

    def payment_intent_metadata(self, payment_intent_id: str) -> dict[str, str]:
        """The metadata of a PaymentIntent: what ``checkout_session_create`` wrote into
        ``payment_intent_data.metadata`` for sessions citreg created (a charge or dispute event
        carries only the PaymentIntent's id).

        Returns: the metadata (string values), or ``{}`` when Stripe does not know the
        PaymentIntent (404).
        Raises: PaymentProviderError when Stripe cannot be reached or refuses otherwise.
        """
        try:
            intent = _client().v1.payment_intents.retrieve(payment_intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return {}
            raise _error(exc) from exc
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        metadata = intent.metadata.to_dict() if intent.metadata else {}
        return {str(key): str(value) for key, value in metadata.items()}

    def parse_event(self, body: bytes, signature_header: str | None) -> dict:
        """Verify a webhook request and return the event as a plain dict.

        The signature (``Stripe-Signature: t=…,v1=…``, HMAC-SHA256 of ``"{t}.{body}"`` with the
        endpoint secret) is checked over the raw body by Stripe's library, and timestamps older
        than five minutes (or in the future) are refused
        (https://docs.stripe.com/webhooks#verify-events). Only then is the body parsed, as
        plain JSON: numbers that are not finite (``NaN``, ``1e999``) and nesting too deep to
        parse are refused, as is a body that is not an object with a string ``id`` and
        ``type``, and a signature header that is not ASCII (Stripe's signatures are hex).
        The event's object is checked later, by what uses it (``payments.webhooks``,
        ``payments.settlement``), so a signed event with a malformed object is recorded.

        Raises: BadWebhook.
        """
        if not signature_header or not settings.STRIPE_WEBHOOK_SECRET:
            raise BadWebhook("missing signature or webhook secret")
        if not signature_header.isascii():  # Stripe's compare_digest raises on other text
            raise BadWebhook("signature header is not ASCII")
        parts = [part.strip() for part in signature_header.split(",")]
        timestamps = [part[2:] for part in parts if part.startswith("t=")]
        if timestamps and timestamps[0].isascii() and timestamps[0].isdigit():
            if int(timestamps[0]) > time.time() + SIGNATURE_TOLERANCE_SECONDS:
                raise BadWebhook("signature timestamp in the future")
        try:
            stripe.WebhookSignature.verify_header(
                body, signature_header, settings.STRIPE_WEBHOOK_SECRET,
                tolerance=SIGNATURE_TOLERANCE_SECONDS,
            )  # fmt: skip
            data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
        except (ValueError, RecursionError, stripe.SignatureVerificationError) as exc:
            raise BadWebhook(str(exc) or exc.__class__.__name__) from exc
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("id"), str)
            or not isinstance(data.get("type"), str)
        ):
            raise BadWebhook("not an event")
        return data


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value
