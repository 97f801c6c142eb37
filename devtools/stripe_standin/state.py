"""The stand-in's objects (Checkout Sessions, PaymentIntents, Charges, Refunds, Disputes, Events),
its clock, and the rules that change them.

Amounts are integer cents (Stripe's "smallest currency unit"), timestamps unix seconds. Every
object is kept as the JSON dict Stripe would return; events carry a copy of the object as it was
when the event happened, as Stripe's do (https://docs.stripe.com/api/events/object).
"""

import copy
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .config import DEFAULT_API_VERSION
from .errors import StripeError, invalid, missing, no_such, unknown

Obj = dict[str, Any]

# https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-expires_at:
# "The value must be between 30 minutes and 24 hours after the current time."
EXPIRES_AT_MIN = 30 * 60
EXPIRES_AT_MAX = 24 * 60 * 60
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts (USD: $0.50).
MINIMUM_AMOUNT = {"usd": 50}
# https://docs.stripe.com/metadata: up to 50 keys, names up to 40 and values up to 500 characters.
METADATA_MAX_KEYS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 50, 40, 500

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """A Stripe-looking id: ``prefix`` + ``_`` + 24 random letters and digits."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def format_amount(cents: int, currency: str) -> str:
    """``1050, "usd"`` → ``"$10.50"`` (other currencies: ``"10.50 EUR"``); no floats."""
    whole, part = divmod(cents, 100)
    number = f"{whole}.{part:02d}"
    return f"${number}" if currency == "usd" else f"{number} {currency.upper()}"


class Clock:
    """The stand-in's clock: the real clock plus an offset the tests move forward.

    Stripe's "current time" rules (``expires_at`` window, expiry) use it, so a test can make a
    session expire without waiting a day.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Now in unix seconds, with fractions."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> int:
        """Now in whole unix seconds (Stripe's timestamps are integers)."""
        return int(self.time())

    def advance(self, seconds: float) -> int:
        """Move the clock forward by ``seconds`` (must not be negative) and return the new now.

        Raises:
            ValueError: for a negative number of seconds (Stripe's time never goes back).
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> int:
        """Back to the real clock (test control; keeps every object). Returns the new now.

        After an advance, the app's next ``expires_at`` (counted on the real clock) would fall
        short of the 30-minute minimum on the advanced one; this puts both clocks together."""
        with self._lock:
            self._offset = 0.0
        return self.now()

    @property
    def offset(self) -> float:
        """Seconds the clock is ahead of the real one (kept in the state file)."""
        with self._lock:
            return self._offset

    @offset.setter
    def offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = seconds


class Store:
    """All objects of the stand-in, guarded by one lock, and the operations on them.

    Args:
        clock: the stand-in clock.
        on_event: called with each new event (a dict) while the lock is held; it must only queue
            the event (the webhook dispatcher does), never call back into the store.
        async_delay: seconds between completing a session with a delayed payment method and its
            outcome event.
    """

    def __init__(self, clock: Clock, on_event: Callable[[Obj], None], async_delay: float = 5):
        self.clock = clock
        self.on_event = on_event
        self.async_delay = async_delay
        self.checkout_base = "http://127.0.0.1:12111"
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every object, event and saved idempotent response."""
        with self.lock:
            self.sessions: dict[str, Obj] = {}
            self.line_items: dict[str, list[Obj]] = {}
            self.payment_intents: dict[str, Obj] = {}
            self.charges: dict[str, Obj] = {}
            self.refunds: dict[str, Obj] = {}
            self.disputes: dict[str, Obj] = {}
            self.events: dict[str, Obj] = {}
            # session id -> (due time on the stand-in clock, "succeeded" | "failed")
            self.pending_async: dict[str, tuple[float, str]] = {}
            # session id -> its payment_intent_data, applied to the PaymentIntent on payment
            self._intent_data: dict[str, Obj] = {}
            # Idempotency-Key -> saved request and response, see server.py
            self.idempotency: dict[str, Obj] = {}

    def _paid_intent(
        self, *, amount: int, currency: str, email: str | None, extra: Obj, delayed: bool
    ) -> Obj:
        """Store a PaymentIntent for ``amount`` (cents) with its charge: succeeded, or
        processing for a delayed method. Call with the lock held."""
        now = self.clock.now()
        intent = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0 if delayed else amount,
            "created": now,
            "currency": currency,
            "description": extra["description"],
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": extra["metadata"],
            "payment_method_types": ["us_bank_account" if delayed else "card"],
            "receipt_email": email,
            "status": "processing" if delayed else "succeeded",
        }
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if delayed else amount,
            "amount_refunded": 0,
            "billing_details": {"email": email},
            "captured": not delayed,
            "created": now,
            "currency": currency,
            "description": intent["description"],
            "disputed": False,
            "livemode": False,
            "metadata": {},
            "paid": not delayed,
            "payment_intent": intent["id"],
            "payment_method_details": {"type": intent["payment_method_types"][0]},
            "refunded": False,
            "status": "pending" if delayed else "succeeded",
        }
        intent["latest_charge"] = charge["id"]
        self.payment_intents[intent["id"]] = intent
        self.charges[charge["id"]] = charge
        return intent

    def record_payment(
        self, *, amount: int, currency: str, email: str, description: str, metadata: Obj
    ) -> str:
        """A card payment of ``amount`` cents made earlier, without a session the stand-in
        saw (``devtools/seed_demo_payments.py`` gives the demo's paid registrations one, so they
        can be refunded). Emits no event. Returns the PaymentIntent's id."""
        with self.lock:
            extra = {"metadata": dict(metadata), "description": description}
            intent = self._paid_intent(
                amount=amount, currency=currency, email=email, extra=extra, delayed=False
            )
            return str(intent["id"])

    # ----------------------------------------------------------------- events

    def emit(
        self, event_type: str, obj: Obj, previous: Obj | None = None, request: Obj | None = None
    ) -> Obj:
        """Record a Stripe event about ``obj`` and hand it to the dispatcher.

        Args:
            event_type: e.g. ``checkout.session.completed``.
            obj: the object as it is now; the event keeps a deep copy.
            previous: ``data.previous_attributes`` (the changed fields' old values), if any.
            request: ``{"id": "req_…", "idempotency_key": …}`` of the API request that caused
                it, None for changes made by the customer or by time.

        Returns:
            The event (https://docs.stripe.com/api/events/object).
        """
        data: Obj = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": DEFAULT_API_VERSION,
            "created": self.clock.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events[event["id"]] = event
        self.on_event(event)
        return event

    def retrieve_event(self, event_id: str) -> Obj:
        """GET /v1/events/:id (https://docs.stripe.com/api/events/retrieve).

        Raises:
            StripeError: 404 ``resource_missing`` for an unknown id.
        """
        with self.lock:
            if event_id not in self.events:
                raise no_such("event", event_id, "id")
            return copy.deepcopy(self.events[event_id])

    # ------------------------------------------------------ checkout sessions

    def create_session(self, params: Obj) -> Obj:
        """POST /v1/checkout/sessions, mode ``payment`` with ``price_data`` line items.

        https://docs.stripe.com/api/checkout/sessions/create. Accepted parameters: ``mode``
        (only ``payment``), ``line_items[n][price_data][currency|unit_amount|product_data]
        [name|description]]`` and ``line_items[n][quantity]``, ``success_url`` and
        ``cancel_url`` (http(s) URLs), ``customer_email``, ``client_reference_id`` (≤ 200
        characters), ``metadata``, ``payment_intent_data[metadata|description]``, ``expires_at``
        (unix seconds, 30 minutes to 24 hours ahead of the stand-in clock; default 24 hours),
        ``payment_method_types``, ``locale``, ``expand``.

        Returns:
            The open session; ``amount_total`` in cents, ``url`` the hosted page.

        Raises:
            StripeError: 400 ``invalid_request_error`` naming the ``param`` at fault.
        """
        allowed = {
            "mode",
            "line_items",
            "success_url",
            "cancel_url",
            "customer_email",
            "client_reference_id",
            "metadata",
            "payment_intent_data",
            "expires_at",
            "payment_method_types",
            "locale",
            "expand",
        }
        _only(params, allowed)
        mode = _string(params, "mode", required=True)
        if mode != "payment":
            raise invalid(
                "mode",
                f"Invalid mode: {mode!r}. The Stripe stand-in implements only mode=payment.",
            )
        success_url = _url(params, "success_url", required=True)
        cancel_url = _url(params, "cancel_url", required=True)
        items, currency = self._line_items(params.get("line_items"))
        total = sum(item["amount_total"] for item in items)
        minimum = MINIMUM_AMOUNT.get(currency, 1)
        if 0 < total < minimum:
            raise invalid(
                "line_items",
                "The Checkout Session's total amount due must add up to at least "
                f"{format_amount(minimum, currency)} {currency}",
                code="amount_too_small",
            )
        customer_email = _string(params, "customer_email")
        if customer_email is not None and not re.fullmatch(
            r"[^@\s]+@[^@\s]+\.[^@\s]+", customer_email
        ):
            raise invalid(
                "customer_email", f"Invalid email address: {customer_email}", "email_invalid"
            )
        reference = _string(params, "client_reference_id")
        if reference is not None and len(reference) > 200:
            raise invalid(
                "client_reference_id",
                "client_reference_id must be at most 200 characters long.",
                "string_length_exceeds_maximum",
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        intent_data = params.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise invalid("payment_intent_data", "Invalid hash", "parameter_invalid_hash")
        _only(intent_data, {"metadata", "description"}, "payment_intent_data")
        intent_extra = {
            "metadata": _metadata(intent_data.get("metadata"), "payment_intent_data[metadata]"),
            "description": _string(intent_data, "description", where="payment_intent_data"),
        }
        payment_types = params.get("payment_method_types", ["card"])
        if not isinstance(payment_types, list):
            raise invalid("payment_method_types", "Invalid array", "parameter_invalid_array")
        now = self.clock.now()
        expires_at = _integer(params, "expires_at")
        if expires_at is None:
            expires_at = now + EXPIRES_AT_MAX
        elif expires_at < now + EXPIRES_AT_MIN:
            raise invalid(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                "creation.",
            )
        elif expires_at > now + EXPIRES_AT_MAX:
            raise invalid(
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                "creation.",
            )
        with self.lock:
            session_id = new_id("cs_test")
            session: Obj = {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": cancel_url,
                "client_reference_id": reference,
                "created": now,
                "currency": currency,
                "customer": None,
                "customer_creation": "if_required",
                "customer_details": None,
                "customer_email": customer_email,
                "expires_at": expires_at,
                "livemode": False,
                "locale": _string(params, "locale"),
                "metadata": metadata,
                "mode": "payment",
                "payment_intent": None,
                "payment_method_types": [str(kind) for kind in payment_types],
                "payment_status": "unpaid",
                "status": "open",
                "success_url": success_url,
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                "ui_mode": "hosted",
                "url": f"{self.checkout_base}/c/pay/{session_id}",
            }
            self.sessions[session_id] = session
            self.line_items[session_id] = items
            self._intent_data[session_id] = intent_extra
            return copy.deepcopy(session)

    def _line_items(self, raw: Any) -> tuple[list[Obj], str]:
        """Validate ``line_items`` and build Stripe's line item objects; returns (items,
        currency). Raises StripeError for a missing or malformed item."""
        if raw is None or raw == []:
            raise missing("line_items")
        if not isinstance(raw, list):
            raise invalid("line_items", "Invalid array", "parameter_invalid_array")
        items = []
        currencies = set()
        for n, entry in enumerate(raw):
            where = f"line_items[{n}]"
            if not isinstance(entry, dict):
                raise invalid(where, "Invalid hash", "parameter_invalid_hash")
            _only(entry, {"price_data", "quantity"}, where)
            price_data = entry.get("price_data")
            if not isinstance(price_data, dict):
                raise missing(f"{where}[price_data]")
            pd_where = f"{where}[price_data]"
            _only(price_data, {"currency", "unit_amount", "product_data"}, pd_where)
            currency = _string(price_data, "currency", required=True, where=pd_where).lower()
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise invalid(f"{pd_where}[currency]", f"Invalid currency: {currency}")
            unit_amount = _integer(price_data, "unit_amount", where=pd_where)
            if unit_amount is None:
                raise missing(f"{pd_where}[unit_amount]")
            if unit_amount < 0:
                raise invalid(
                    f"{pd_where}[unit_amount]",
                    "Invalid non-negative integer",
                    "parameter_invalid_integer",
                )
            product = price_data.get("product_data")
            if not isinstance(product, dict):
                raise missing(f"{pd_where}[product_data]")
            _only(product, {"name", "description"}, f"{pd_where}[product_data]")
            name = _string(product, "name", required=True, where=f"{pd_where}[product_data]")
            quantity = _integer(entry, "quantity", where=where)
            if quantity is None:
                raise missing(f"{where}[quantity]")
            if quantity < 1:
                raise invalid(
                    f"{where}[quantity]", "Invalid positive integer", "parameter_invalid_integer"
                )
            currencies.add(currency)
            amount = unit_amount * quantity
            items.append(
                {
                    "id": new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": currency,
                    "description": name,
                    "price": {
                        "id": new_id("price"),
                        "object": "price",
                        "active": False,
                        "currency": currency,
                        "livemode": False,
                        "product": new_id("prod"),
                        "type": "one_time",
                        "unit_amount": unit_amount,
                    },
                    "quantity": quantity,
                }
            )
        if len(currencies) > 1:
            raise invalid(
                "line_items",
                "All line items must use the same currency; got " + ", ".join(sorted(currencies)),
            )
        return items, currencies.pop()

    def retrieve_session(self, session_id: str) -> Obj:
        """GET /v1/checkout/sessions/:id (https://docs.stripe.com/api/checkout/sessions/retrieve).

        Raises:
            StripeError: 404 ``resource_missing``.
        """
        with self.lock:
            return copy.deepcopy(self._session(session_id))

    def session_line_items(self, session_id: str) -> list[Obj]:
        """The line items of a session (GET /v1/checkout/sessions/:id/line_items)."""
        with self.lock:
            self._session(session_id)
            return copy.deepcopy(self.line_items[session_id])

    def _session(self, session_id: str) -> Obj:
        if session_id not in self.sessions:
            raise no_such("checkout.session", session_id, "session")
        return self.sessions[session_id]

    def list_sessions(self, params: Obj) -> tuple[list[Obj], bool]:
        """GET /v1/checkout/sessions, newest first, filtered by ``payment_intent``, ``status``,
        ``customer_email`` and ``created`` (unix seconds: a number, or a hash of ``gt``, ``gte``,
        ``lt``, ``lte``); paged by ``limit`` (1–100, default 10) and ``starting_after``
        (https://docs.stripe.com/api/checkout/sessions/list, /api/pagination).

        Returns:
            (sessions, has_more).

        Raises:
            StripeError: 400 for an unknown parameter, a bad ``limit`` or ``created``; 404 for an
                unknown ``starting_after`` id.
        """
        _only(
            params,
            {
                "payment_intent", "status", "customer_email", "created", "limit",
                "starting_after", "expand",
            },
        )  # fmt: skip
        limit = _integer(params, "limit")
        limit = 10 if limit is None else limit
        if not 1 <= limit <= 100:
            raise invalid("limit", "Limit must be between 1 and 100.", "parameter_invalid_integer")
        created = _created_range(params)
        with self.lock:
            found = [
                session
                for session in reversed(self.sessions.values())
                if all(
                    params.get(key) is None or session[key] == params[key]
                    for key in ("payment_intent", "status", "customer_email")
                )
                and created(session["created"])
            ]
            after = params.get("starting_after")
            if after:
                ids = [session["id"] for session in found]
                if after not in self.sessions:
                    raise no_such("checkout.session", after, "starting_after")
                found = found[ids.index(after) + 1 :] if after in ids else []
            return copy.deepcopy(found[:limit]), len(found) > limit

    def expire_session(self, session_id: str, request: Obj | None = None) -> Obj:
        """POST /v1/checkout/sessions/:id/expire: an ``open`` session becomes ``expired`` and
        ``checkout.session.expired`` is sent (https://docs.stripe.com/api/checkout/sessions/expire).

        Raises:
            StripeError: 404 for an unknown id; 400 when the session is not ``open``.
        """
        with self.lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise StripeError(
                    400,
                    'Only Checkout Sessions with a status in ["open"] can be expired. This '
                    f"Checkout Session has a status of {session['status']!r}.",
                    saved=True,
                )
            self._expire(session, request)
            return copy.deepcopy(session)

    def _expire(self, session: Obj, request: Obj | None) -> None:
        session["status"] = "expired"
        session["url"] = None
        self.emit("checkout.session.expired", session, request=request)

    # ------------------------------------------- hosted page: the customer pays

    def pay(self, session_id: str, method: str, email: str | None = None, outcome: str = "") -> Obj:
        """The customer pays on the hosted page.

        Args:
            session_id: an ``open`` session.
            method: ``"card"`` (paid at once) or ``"delayed"`` (a bank debit: the session
                completes ``unpaid`` and ``checkout.session.async_payment_succeeded`` or
                ``…_failed`` follows ``async_delay`` seconds later;
                https://docs.stripe.com/payments/checkout/fulfill-orders, "delayed
                notification payment methods").
            email: the email typed on the page when the session had no ``customer_email``.
            outcome: for ``delayed``, ``"succeeded"`` or ``"failed"``.

        Returns:
            The completed session. A zero total completes with ``payment_status``
            ``no_payment_required`` and no PaymentIntent.

        Raises:
            StripeError: 400 when the session is not ``open``.
        """
        with self.lock:
            session = self._session(session_id)
            self.expire_due()
            if session["status"] != "open":
                raise StripeError(400, f"This Checkout Session is {session['status']}.")
            session["customer_details"] = {
                "address": None,
                "email": session["customer_email"] or email,
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
            session["status"] = "complete"
            session["url"] = None
            if session["amount_total"] == 0:
                session["payment_status"] = "no_payment_required"
                self.emit("checkout.session.completed", session)
                return copy.deepcopy(session)
            delayed = method == "delayed"
            extra = self._intent_data.get(session_id, {"metadata": {}, "description": None})
            intent = self._paid_intent(
                amount=session["amount_total"],
                currency=session["currency"],
                email=session["customer_details"]["email"],
                extra=extra,
                delayed=delayed,
            )
            session["payment_intent"] = intent["id"]
            session["payment_status"] = "unpaid" if delayed else "paid"
            self.emit("checkout.session.completed", session)
            if delayed:
                if outcome not in ("succeeded", "failed"):
                    outcome = "succeeded"
                self.pending_async[session_id] = (self.clock.time() + self.async_delay, outcome)
            return copy.deepcopy(session)

    def check_open(self, session_id: str) -> Obj:
        """The session for the hosted page, expiring it first if its time has passed."""
        with self.lock:
            self.expire_due()
            return copy.deepcopy(self._session(session_id))

    # ----------------------------------------------------------- time passes

    def expire_due(self) -> None:
        """Expire open sessions whose ``expires_at`` has passed on the stand-in clock and settle
        delayed payments that are due. Called by the background ticker, after the clock moves,
        and before the hosted page acts."""
        with self.lock:
            now = self.clock.now()
            for session in list(self.sessions.values()):
                if session["status"] == "open" and session["expires_at"] <= now:
                    self._expire(session, None)
            moment = self.clock.time()
            for session_id, (due, outcome) in list(self.pending_async.items()):
                if due <= moment:
                    del self.pending_async[session_id]
                    self._settle(self.sessions[session_id], outcome)

    def _settle(self, session: Obj, outcome: str) -> None:
        intent = self.payment_intents[session["payment_intent"]]
        charge = self.charges[intent["latest_charge"]]
        if outcome == "succeeded":
            intent.update(status="succeeded", amount_received=intent["amount"])
            charge.update(status="succeeded", paid=True, captured=True)
            charge["amount_captured"] = charge["amount"]
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", session)
        else:
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_method_provider_decline",
                    "message": "The payment was declined by the customer's bank.",
                },
            )
            charge.update(status="failed", failure_code="debit_not_authorized")
            self.emit("checkout.session.async_payment_failed", session)

    # ------------------------------------------------- payment intents, charges

    def retrieve_payment_intent(self, intent_id: str) -> Obj:
        """GET /v1/payment_intents/:id. Raises StripeError 404 for an unknown id."""
        with self.lock:
            if intent_id not in self.payment_intents:
                raise no_such("payment_intent", intent_id, "intent")
            return copy.deepcopy(self.payment_intents[intent_id])

    def retrieve_charge(self, charge_id: str) -> Obj:
        """GET /v1/charges/:id. Raises StripeError 404 for an unknown id."""
        with self.lock:
            if charge_id not in self.charges:
                raise no_such("charge", charge_id, "charge")
            return copy.deepcopy(self.charges[charge_id])

    def _charge_for(self, params: Obj) -> Obj:
        """The succeeded charge named by ``payment_intent`` or ``charge`` in ``params``."""
        if params.get("payment_intent"):
            intent_id = _string(params, "payment_intent")
            if intent_id not in self.payment_intents:
                raise no_such("payment_intent", intent_id, "payment_intent")
            intent = self.payment_intents[intent_id]
            charge = self.charges.get(intent["latest_charge"] or "")
            if charge is None or charge["status"] != "succeeded":
                raise StripeError(
                    400,
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                    saved=True,
                )
            return charge
        if params.get("charge"):
            charge_id = _string(params, "charge")
            if charge_id not in self.charges:
                raise no_such("charge", charge_id, "charge")
            charge = self.charges[charge_id]
            if charge["status"] != "succeeded":
                raise StripeError(
                    400,
                    f"Charge {charge_id} has not succeeded (status {charge['status']!r}).",
                    param="charge",
                    saved=True,
                )
            return charge
        raise StripeError(
            400,
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
        )

    # ----------------------------------------------------------------- refunds

    def create_refund(self, params: Obj, request: Obj | None = None) -> Obj:
        """POST /v1/refunds by ``payment_intent`` (or ``charge``), with an optional ``amount`` in
        cents (default: all that is left), ``reason`` and ``metadata``
        (https://docs.stripe.com/api/refunds/create). The charge's ``amount_refunded`` and
        ``refunded`` change and ``charge.refunded`` (the charge) and ``refund.created`` (the
        refund) are sent (https://docs.stripe.com/api/events/types#event_types-charge.refunded).

        Raises:
            StripeError: 404 for an unknown PaymentIntent or charge; 400 when nothing was paid,
                for an amount that is not a positive integer, above what is left
                ("Refund amount ($X) is greater than unrefunded amount on charge ($Y)"), or when
                the charge is already fully refunded (``charge_already_refunded``).
        """
        _only(params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
        amount = _integer(params, "amount")
        if amount is not None and amount < 1:
            raise invalid("amount", "Invalid positive integer", "parameter_invalid_integer")
        reason = _string(params, "reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise invalid(
                "reason",
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        with self.lock:
            charge = self._charge_for(params)
            left = charge["amount_captured"] - charge["amount_refunded"]
            if left <= 0:
                raise StripeError(
                    400,
                    f"Charge {charge['id']} has already been refunded.",
                    code="charge_already_refunded",
                    saved=True,
                )
            amount = left if amount is None else amount
            if amount > left:
                raise StripeError(
                    400,
                    f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
                    f"unrefunded amount on charge ({format_amount(left, charge['currency'])})",
                    param="amount",
                    saved=True,
                )
            refund = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": None,
                "charge": charge["id"],
                "created": self.clock.now(),
                "currency": charge["currency"],
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "receipt_number": None,
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            previous = {"amount_refunded": charge["amount_refunded"], "refunded": False}
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
            self.emit("charge.refunded", charge, previous=previous, request=request)
            self.emit("refund.created", refund, request=request)
            return copy.deepcopy(refund)

    def retrieve_refund(self, refund_id: str) -> Obj:
        """GET /v1/refunds/:id (https://docs.stripe.com/api/refunds/retrieve).

        Raises:
            StripeError: 404 ``resource_missing``.
        """
        with self.lock:
            if refund_id not in self.refunds:
                raise no_such("refund", refund_id, "refund")
            return copy.deepcopy(self.refunds[refund_id])

    # ---------------------------------------------------------------- disputes

    def create_dispute(self, params: Obj) -> Obj:
        """Test control: the cardholder disputes a charge (named by ``payment_intent`` or
        ``charge``) for ``amount`` cents (default the whole charge) with ``reason`` (default
        ``fraudulent``); sends ``charge.dispute.created``
        (https://docs.stripe.com/api/disputes/object). Stripe creates disputes from test card
        numbers; the stand-in from this control.

        Raises:
            StripeError: as for refunds when the charge is unknown or unpaid; 400 for an amount
                that is not a positive integer up to the charge amount.
        """
        with self.lock:
            charge = self._charge_for(params)
            amount = _integer(params, "amount")
            amount = charge["amount"] if amount is None else amount
            if not 1 <= amount <= charge["amount"]:
                raise invalid("amount", "Invalid amount", "parameter_invalid_integer")
            now = self.clock.now()
            dispute = {
                "id": new_id("dp"),
                "object": "dispute",
                "amount": amount,
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "evidence_details": {
                    "due_by": now + 7 * 24 * 60 * 60,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": params.get("reason") or "fraudulent",
                "status": "needs_response",
            }
            self.disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self.emit("charge.dispute.created", dispute)
            return copy.deepcopy(dispute)

    # ---------------------------------------------------------------- expand

    def expand(self, obj: Obj, paths: list[str]) -> Obj:
        """Replace ids by objects for each ``expand[]`` path (``payment_intent``,
        ``payment_intent.latest_charge``, ``line_items``, ``charge``; ``data.`` prefixed for
        lists), as https://docs.stripe.com/api/expanding_objects describes.

        Raises:
            StripeError: 400 for a path that cannot be expanded.
        """
        with self.lock:
            for path in paths:
                self._expand_path(obj, path.split("."), path)
            return obj

    def _expand_path(self, obj: Obj, parts: list[str], path: str) -> None:
        if parts[0] == "data" and obj.get("object") == "list":
            for item in obj["data"]:
                self._expand_path(item, parts[1:], path)
            return
        head, rest = parts[0], parts[1:]
        if head == "line_items" and obj.get("object") == "checkout.session":
            items = self.line_items.get(obj["id"], [])
            obj["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(items),
                "has_more": False,
                "url": f"/v1/checkout/sessions/{obj['id']}/line_items",
            }
            return
        value = obj.get(head)
        if isinstance(value, str):
            table = {
                "pi": self.payment_intents,
                "ch": self.charges,
                "re": self.refunds,
                "dp": self.disputes,
            }.get(value.split("_", 1)[0])
            if table is not None and value in table:
                obj[head] = copy.deepcopy(table[value])
                value = obj[head]
        if isinstance(value, dict) and rest:
            self._expand_path(value, rest, path)
        elif not isinstance(value, dict) and value is not None:
            raise invalid("expand", f"This property cannot be expanded ({path}).")


# --------------------------------------------------------- parameter checks


def _only(params: Obj, allowed: set[str], where: str = "") -> None:
    """Refuse any parameter outside ``allowed``, as Stripe refuses unknown parameters."""
    for key in params:
        if key not in allowed:
            raise unknown(f"{where}[{key}]" if where else key)


def _name(where: str, key: str) -> str:
    return f"{where}[{key}]" if where else key


def _string(params: Obj, key: str, *, required: bool = False, where: str = "") -> Any:
    """A string parameter, None when absent or empty (Stripe treats ``""`` as unset)."""
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise missing(_name(where, key))
        return None
    if not isinstance(value, str):
        raise invalid(_name(where, key), "Invalid string", "parameter_invalid_string")
    return value


def _integer(params: Obj, key: str, *, where: str = "") -> int | None:
    """An integer parameter (cents, seconds, counts); never a float.

    Raises:
        StripeError: ``Invalid integer: 12.5`` for anything but an optionally signed run of
            digits.
    """
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise invalid(_name(where, key), f"Invalid integer: {value}", "parameter_invalid_integer")


_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda value, bound: value > bound,
    "gte": lambda value, bound: value >= bound,
    "lt": lambda value, bound: value < bound,
    "lte": lambda value, bound: value <= bound,
}


def _created_range(params: Obj) -> Callable[[int], bool]:
    """The ``created`` filter of a list request: ``created=<t>`` (exactly ``t``) or
    ``created[gt|gte|lt|lte]=<t>``, unix seconds (https://docs.stripe.com/api/checkout/sessions/
    list#list_checkout_sessions-created). Returns a test of a ``created`` value.

    Raises:
        StripeError: 400 for another key inside ``created`` or a value that is not an integer.
    """
    raw = params.get("created")
    if raw is None or raw == "":
        return lambda value: True
    if not isinstance(raw, dict):
        exact = _integer(params, "created")
        return lambda value: value == exact
    _only(raw, set(_COMPARISONS), "created")
    bounds = [(_COMPARISONS[key], _integer(raw, key, where="created")) for key in raw]
    return lambda value: all(bound is None or test(value, bound) for test, bound in bounds)


def _url(params: Obj, key: str, *, required: bool) -> str | None:
    """An absolute http(s) URL parameter (``success_url``, ``cancel_url``)."""
    value = _string(params, key, required=required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(key, "Not a valid URL", "url_invalid")
    return value


def _metadata(raw: Any, param: str) -> dict[str, str]:
    """Validate a ``metadata`` hash (https://docs.stripe.com/metadata); empty values are
    dropped, as Stripe unsets keys given an empty value."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid(param, "Invalid hash", "parameter_invalid_hash")
    if len(raw) > METADATA_MAX_KEYS:
        raise invalid(param, f"Metadata can have up to {METADATA_MAX_KEYS} keys.")
    result = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"{param}[{key}]", "Invalid string", "parameter_invalid_string")
        if len(key) > METADATA_MAX_KEY:
            raise invalid(
                f"{param}[{key}]", f"Metadata keys can be up to {METADATA_MAX_KEY} characters."
            )
        if len(value) > METADATA_MAX_VALUE:
            raise invalid(
                f"{param}[{key}]",
                f"Metadata values can be up to {METADATA_MAX_VALUE} characters.",
            )
        if value != "":
            result[key] = value
    return result
