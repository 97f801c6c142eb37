"""Stripe: the one module that imports ``stripe``, behind ``gateway.PaymentGateway``.

It creates, expires, reads and finds (by metadata) Checkout Sessions, creates refunds, reads a
PaymentIntent's metadata and verifies webhook signatures, through the official library with a
pinned API version (``STRIPE_API_VERSION``), a bounded time per call (``STRIPE_TIMEOUT_SECONDS``)
and an overridable API base (``STRIPE_API_BASE``: the local stand-in in development and tests).
Nothing else in the project knows Stripe's shapes beyond the plain values these methods return;
what an event may change is decided by ``payments.settlement``.
"""

import json
import math
import time
from datetime import datetime

import stripe
from django.conf import settings

from courses.text import one_line, truncate

from .gateway import BadWebhook, CheckoutSession, PaymentProviderError

SIGNATURE_TOLERANCE_SECONDS = 300  # stripe.Webhook's default: older timestamps are refused.
# Stripe's metadata limits (https://docs.stripe.com/metadata): at most 50 keys, a key at most 40
# characters without square brackets, a value at most 500 characters.
METADATA_KEYS_MAX = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
# A product name is shown on Stripe's checkout page and receipt; Stripe takes up to 5,000
# characters, citreg keeps it to what a page shows on a line or two.
PRODUCT_NAME_MAX = 250
PRODUCT_NAME_FALLBACK = "Course registration"


def stripe_text(value: str, limit: int) -> str:
    """Text for a Stripe parameter: one line of visible text (``courses.text.one_line``: a
    course title from an older row may hold a line break or a control character), at most
    ``limit`` characters (``courses.text.truncate``)."""
    return truncate(one_line(value), limit)


def stripe_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` within Stripe's limits: each value one line, cut to
    ``METADATA_VALUE_MAX`` characters (``stripe_text``).

    Raises: ValueError for a key Stripe refuses (empty, longer than ``METADATA_KEY_MAX``, with a
    square bracket) or more than ``METADATA_KEYS_MAX`` keys: keys are citreg's own names, so
    that is a bug to find in tests, not text to clean.
    """
    if len(metadata) > METADATA_KEYS_MAX:
        raise ValueError(f"Stripe takes at most {METADATA_KEYS_MAX} metadata keys.")
    for key in metadata:
        if not key or len(key) > METADATA_KEY_MAX or "[" in key or "]" in key:
            raise ValueError(f"Stripe refuses the metadata key {key!r}.")
    return {key: stripe_text(str(value), METADATA_VALUE_MAX) for key, value in metadata.items()}


# Pages of ``checkout_session_find``'s listing (Stripe's maximum is 100).
LIST_PAGE_SIZE = 100
NETWORK_RETRIES = 2


def _client() -> stripe.StripeClient:
    """A client whose every call ends within about ``(NETWORK_RETRIES + 1) ×
    STRIPE_TIMEOUT_SECONDS`` plus the library's short backoff (0.5 s, 1 s): a checkout request
    is over before ``payments.reconcile`` looks at its payment
    (``CHECKOUT_RECONCILE_GRACE_SECONDS``)."""
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY or "sk_test_unset",
        stripe_version=settings.STRIPE_API_VERSION,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _error(exc: stripe.StripeError) -> PaymentProviderError:
    """``exc`` as the gateway's error; indeterminate for network failures and Stripe's 5xx
    answers, whose request may have taken effect (https://docs.stripe.com/error-low-level)."""
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    status = getattr(exc, "http_status", None)
    indeterminate = isinstance(exc, stripe.APIConnectionError) or (
        isinstance(exc, stripe.APIError) and (status is None or status >= 500)
    )
    return PaymentProviderError(f"Stripe: {message}", indeterminate=indeterminate)


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
            product_name: shown on the checkout page; sent on one line, at most
                ``PRODUCT_NAME_MAX`` characters (``stripe_text``).
            metadata: citreg's keys and values; values are sent within Stripe's limits
                (``stripe_metadata``, which raises ValueError for a key Stripe refuses).
            expires_at: aware datetime 30 min – 24 h ahead (Stripe refuses others).
            success_url: may contain ``{CHECKOUT_SESSION_ID}``, which Stripe fills in.
            idempotency_key: the same key returns the same session on a retried request
                (https://docs.stripe.com/api/idempotent_requests).

        Raises: PaymentProviderError when Stripe refuses or cannot be reached.
        """
        product = stripe_text(product_name, PRODUCT_NAME_MAX) or PRODUCT_NAME_FALLBACK
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount_cents,
                        "product_data": {"name": product},
                    },
                }
            ],
            "customer_email": customer_email,
            "client_reference_id": client_reference_id,
            "metadata": stripe_metadata(metadata),
            "payment_intent_data": {"metadata": stripe_metadata(metadata)},
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
        return _session(session)

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

    def checkout_session_find(
        self, *, metadata: dict[str, str], created_from: datetime, created_to: datetime
    ) -> CheckoutSession | None:
        """The Checkout Session created in ``[created_from, created_to]`` whose metadata holds
        every item of ``metadata``, or None.

        Stripe has no metadata search for Checkout Sessions (the Search API does not cover
        them), so this lists the sessions of that window with ``created[gte]``/``created[lte]``
        (unix seconds), newest first, ``LIST_PAGE_SIZE`` a page, following ``starting_after``
        (https://docs.stripe.com/api/checkout/sessions/list, /api/pagination).

        Raises: PaymentProviderError when Stripe cannot be reached or refuses.
        """
        params: stripe.params.checkout.SessionListParams = {
            "created": {
                "gte": math.floor(created_from.timestamp()),
                "lte": math.ceil(created_to.timestamp()),
            },
            "limit": LIST_PAGE_SIZE,
        }
        try:
            page = _client().v1.checkout.sessions.list(params=params)
            for session in page.auto_paging_iter():
                found = session.metadata.to_dict() if session.metadata else {}
                if all(found.get(key) == value for key, value in metadata.items()):
                    return _session(session)
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return None

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
            params["metadata"] = stripe_metadata({"reason": reason})
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


def _session(session: stripe.checkout.Session) -> CheckoutSession:
    return CheckoutSession(
        id=session.id,
        url=session.url or "",
        expires_at=session.expires_at,
        status=session.status or "",
    )


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value
