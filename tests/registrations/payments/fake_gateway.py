"""An in-process ``PaymentGateway`` for unit tests: no network, every call recorded."""

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from registrations.payments.gateway import BadWebhook, CheckoutSession, PaymentProviderError


@dataclass
class FakeGateway:
    """Keeps sessions and refunds in memory. Set ``fail_with`` to make the next calls raise
    ``PaymentProviderError`` (the provider is down or refuses)."""

    sessions: dict[str, dict] = field(default_factory=dict)
    refunds: list[dict] = field(default_factory=list)
    payment_intents: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> metadata
    fail_with: str = ""
    indeterminate: bool = False  # with ``fail_with``: as if the answer was lost, not refused

    def _check(self) -> None:
        if self.fail_with:
            raise PaymentProviderError(self.fail_with, indeterminate=self.indeterminate)

    def checkout_session_create(self, *, idempotency_key: str, expires_at: datetime, **params):
        self._check()
        for session_id, session in self.sessions.items():
            if session["idempotency_key"] == idempotency_key:  # a replayed request
                return CheckoutSession(session_id, session["url"], session["expires_at"])
        session_id = f"cs_fake_{uuid.uuid4().hex[:12]}"
        url = f"https://checkout.invalid/{session_id}"
        self.sessions[session_id] = {
            **params,
            "idempotency_key": idempotency_key,
            "expires_at": int(expires_at.timestamp()),
            "created": int(time.time()),
            "url": url,
            "status": "open",
        }
        return CheckoutSession(session_id, url, int(expires_at.timestamp()))

    def checkout_session_find(
        self, *, metadata: dict[str, str], created_from: datetime, created_to: datetime
    ) -> CheckoutSession | None:
        self._check()
        for session_id, session in reversed(self.sessions.items()):
            found = session.get("metadata", {})
            window = int(created_from.timestamp()) <= session["created"] <= created_to.timestamp()
            if window and all(found.get(key) == value for key, value in metadata.items()):
                url = session["url"] if session["status"] == "open" else ""
                return CheckoutSession(session_id, url, session["expires_at"], session["status"])
        return None

    def checkout_session_expire(self, session_id: str) -> bool:
        self._check()
        session = self.sessions.get(session_id)
        if session is None or session["status"] != "open":
            return False
        session["status"] = "expired"
        return True

    def checkout_session_status(self, session_id: str) -> str:
        self._check()
        if session_id not in self.sessions:
            raise PaymentProviderError(f"No such checkout session: {session_id}")
        return self.sessions[session_id]["status"]

    def refund_create(
        self, *, payment_intent_id: str, amount_cents: int, idempotency_key: str, reason: str = ""
    ) -> str:
        self._check()
        for refund in self.refunds:
            if refund["idempotency_key"] == idempotency_key:
                return refund["id"]
        refund = {
            "id": f"re_fake_{len(self.refunds) + 1}",
            "payment_intent": payment_intent_id,
            "amount": amount_cents,
            "idempotency_key": idempotency_key,
            "reason": reason,
        }
        self.refunds.append(refund)
        return refund["id"]

    def payment_intent_metadata(self, payment_intent_id: str) -> dict[str, str]:
        self._check()
        return dict(self.payment_intents.get(payment_intent_id, {}))

    def parse_event(self, body: bytes, signature_header: str | None) -> dict:
        raise BadWebhook("the fake gateway accepts no webhooks")
