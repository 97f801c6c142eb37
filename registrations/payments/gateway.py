"""The payment provider's contract: what citreg asks of Stripe, and nothing of Stripe's shapes.

Services call ``gateway()`` and talk to a ``PaymentGateway``. The one implementation for
production is ``registrations.payments.stripe_gateway.StripeGateway`` (the only module that
imports ``stripe``); ``PAYMENT_GATEWAY`` (a dotted path) chooses another, e.g. an in-process fake
in tests. The local Stripe stand-in (``devtools/stripe_standin``) speaks Stripe's protocol to the
real gateway. Modelled on pretix's payment provider contract (``base/payment.py``).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

# Stripe's window for a Checkout Session's ``expires_at``: 30 minutes to 24 hours after creation
# (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-expires_at).
MIN_CHECKOUT_MINUTES = 30
MAX_CHECKOUT_HOURS = 24


class PaymentProviderError(Exception):
    """The provider refused or could not be reached; ``message`` is safe to show staff.

    ``indeterminate`` is True when the request may still have taken effect at the provider (the
    connection failed or timed out, or the provider answered with a server error, after the
    library's own retries): a Checkout Session may exist although no answer came back
    (https://docs.stripe.com/error-low-level). False for a refusal, which changed
    nothing.
    """

    def __init__(self, message: str, *, indeterminate: bool = False):
        self.message = message
        self.indeterminate = indeterminate
        super().__init__(message)


class BadWebhook(Exception):  # noqa: N818
    """A webhook request that did not come from the provider: bad or missing signature, stale
    timestamp, or a body that is not an event."""


@dataclass(frozen=True)
class CheckoutSession:
    """What citreg keeps of a Checkout Session: ``url`` is "" once it is no longer open;
    ``status`` is "open", "complete" or "expired"."""

    id: str
    url: str
    expires_at: int  # unix seconds
    status: str = "open"


class PaymentGateway(Protocol):
    """What the payment services need from a provider. Amounts are integer cents."""

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
        """Create a hosted checkout for one seat. Raises PaymentProviderError."""
        ...

    def checkout_session_expire(self, session_id: str) -> bool:
        """Expire an open checkout; False when it was no longer open. Raises
        PaymentProviderError when unreachable."""
        ...

    def checkout_session_status(self, session_id: str) -> str:
        """ "open", "complete" or "expired". Raises PaymentProviderError."""
        ...

    def checkout_session_find(
        self, *, metadata: dict[str, str], created_from: datetime, created_to: datetime
    ) -> CheckoutSession | None:
        """The Checkout Session created between ``created_from`` and ``created_to`` (aware
        datetimes, inclusive, whole seconds) whose metadata holds every item of ``metadata``,
        or None when there is none. Providers without a metadata search (Stripe has none for
        Checkout Sessions) list the sessions of that window page by page. Raises
        PaymentProviderError."""
        ...

    def refund_create(
        self, *, payment_intent_id: str, amount_cents: int, idempotency_key: str, reason: str = ""
    ) -> str:
        """Refund part or all of a payment; returns the refund's id. Raises
        PaymentProviderError."""
        ...

    def payment_intent_metadata(self, payment_intent_id: str) -> dict[str, str]:
        """The metadata of a PaymentIntent (citreg writes its checkout metadata there too), or
        ``{}`` when the provider does not know it. Raises PaymentProviderError when
        unreachable."""
        ...

    def parse_event(self, body: bytes, signature_header: str | None) -> dict:
        """Verify a webhook request and return the event as a plain dict whose ``id`` and
        ``type`` are strings (the rest is checked by ``payments.webhooks`` and
        ``payments.settlement``). Raises BadWebhook."""
        ...


@cache
def _load(path: str) -> PaymentGateway:
    return import_string(path)()


def gateway() -> PaymentGateway:
    """The configured gateway (``PAYMENT_GATEWAY``, default the Stripe gateway), one instance
    per dotted path."""
    return _load(settings.PAYMENT_GATEWAY)
