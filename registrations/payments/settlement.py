"""What money events do to registrations: payment received, processing, failed, expired,
refunded, disputed. Called by the webhook dispatcher (``payments.webhooks``) with Stripe's
objects as plain dicts; every function is idempotent and order-independent, so Stripe's
duplicate or reordered deliveries give the same end state.

**Trust (``docs/architecture.md``, "Security and privacy"): citreg acts only on money it can prove
it asked for.** Anyone with access to the same Stripe account (a Payment Link accepts
``?client_reference_id=``) can make Stripe send signed events, so a signature proves only that
Stripe sent the event, not that it is citreg's.

- A Checkout Session whose id citreg stored is its own; its ``amount_total`` and ``currency``
  must still equal the Payment's ``amount_cents`` and ``currency``.
- A session whose id citreg never stored (a crash between Stripe's answer and our save) is
  adopted only when its ``metadata``, written by ``checkout`` at creation (``registration``,
  ``payment`` and the per-payment ``nonce``), names a Payment citreg created that has no session
  yet (``creating`` or ``failed``) and its amount and currency equal that Payment's. That
  Payment row gets the session id; no Payment is ever made from an event's own amount.
  ``client_reference_id`` is never trusted.
- A charge or dispute is citreg's when its PaymentIntent is one citreg recorded from its own
  session. An unknown PaymentIntent whose metadata (asked of the gateway: charges do not carry
  it) names a Payment still waiting for its completion raises ``NotYetKnown``, so Stripe
  delivers it again after the completion and the order of deliveries does not matter.
- Anything else raises ``Refused``: ``payments.webhooks`` records the event as refused, rolls
  back whatever the handler did and calls ``report_refused`` (staff are alerted once), and no
  registration changes; no money citreg cannot prove is its own is refunded. A signed object
  whose fields are missing or of the wrong type raises ``Malformed``, recorded the same way.

Money that arrives for a registration of citreg's that cannot take it (cancelled, waitlisted,
already paid, or a late payment with no seat left) is refunded in full automatically and
flagged for staff. Locks follow ``registrations.locking``'s order: offering, payment,
registration (``ledger.lock_payment``). Logs name registrations, payments and Stripe objects by
id, never by email address.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from registrations.enums import LIVE_PAYMENT_STATUSES, OPEN_CHECKOUT_STATUSES
from registrations.enums import RegistrationState as S
from registrations.messaging import notices
from registrations.models import Registration
from registrations.seats import booking, queries
from registrations.transitions import Actor, registration_note, registration_transition

from . import attention, checkout, refunds
from .gateway import gateway
from .ledger import lock_payment, refunded_total
from .models import Payment

logger = logging.getLogger("citreg.payments")

# What Stripe's ids, our metadata values and Stripe's codes look like; anything else in those
# fields is malformed (and could not be stored or searched: PostgreSQL refuses NUL characters).
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
_CODE = re.compile(r"[A-Za-z0-9_]{1,100}")
_ROW_ID = re.compile(r"[1-9][0-9]{0,17}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A session citreg created but whose id it never stored: created, or marked failed when Stripe's
# answer was lost; it may still be paid.
ADOPTABLE_STATUSES = (Payment.Status.CREATING, Payment.Status.FAILED)
# A payment of citreg's whose PaymentIntent is not recorded yet (its completion is to come).
AWAITING_INTENT_STATUSES = (Payment.Status.CREATING, Payment.Status.OPEN, Payment.Status.FAILED)


class NotYetKnown(Exception):  # noqa: N818
    """The event refers to a payment of citreg's whose completion has not arrived yet (Stripe
    may deliver ``charge.refunded`` before ``checkout.session.completed``): answer so Stripe
    retries."""


class Refused(Exception):  # noqa: N818
    """The event is not about money citreg asked for; it must change nothing.

    ``reason`` (plain text, ids only) is recorded with the event; ``registration_id`` names the
    registration of a Payment citreg created that the event claims to pay (staff are alerted
    on it), or is None when nothing in the event can be trusted.
    """

    def __init__(self, reason: str, registration_id: int | None = None):
        self.reason = reason
        self.registration_id = registration_id
        super().__init__(reason)


class Malformed(Exception):  # noqa: N818
    """A signed object without the fields, or with fields of other types, than its event type
    has (Stripe's API reference); it must change nothing. The message names the field."""


def _shown(value: object) -> str:
    """A value of an event in a message (plain text, safe to store and log): short codes and
    numbers as they are, anything else by its JSON type."""
    if isinstance(value, str) and _CODE.fullmatch(value) and len(value) <= 40:
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**15:
        return str(value)
    kinds = {type(None): "missing", bool: "a boolean", str: "text", dict: "an object"}
    return kinds.get(type(value), "a list" if isinstance(value, list) else "a number")


def _read(
    obj: dict, key: str, valid: Callable[[Any], bool], what: str, *, nullable: bool = False
) -> Any:
    """``obj[key]`` when ``valid`` (or None when ``nullable`` and absent or null).

    Raises: Malformed naming the field and what it should be.
    """
    value = obj.get(key)
    if value is None and nullable:
        return None
    if value is None or not valid(value):
        raise Malformed(f"{key} is {_shown(value)}, not {what}")
    return value


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _STRIPE_ID.fullmatch(value) is not None


def _is_cents(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_code(value: Any) -> bool:
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def _is_metadata(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


@dataclass(frozen=True)
class SessionFacts:
    """What citreg reads of a Checkout Session object (amounts in the currency's cents)."""

    id: str
    amount_total: int | None
    currency: str | None
    payment_status: str
    payment_intent: str | None
    metadata: dict[str, str]


def session_facts(session: dict) -> SessionFacts:
    """Read a Checkout Session object (https://docs.stripe.com/api/checkout/sessions/object).

    Raises: Malformed when a field citreg uses is missing or of the wrong type.
    """
    return SessionFacts(
        id=_read(session, "id", _is_id, "a Stripe id"),
        amount_total=_read(session, "amount_total", _is_cents, "whole cents", nullable=True),
        currency=_read(session, "currency", lambda v: isinstance(v, str), "text", nullable=True),
        payment_status=_read(session, "payment_status", _is_code, "a status code"),
        payment_intent=_read(session, "payment_intent", _is_id, "a Stripe id", nullable=True),
        metadata=_read(session, "metadata", _is_metadata, "metadata", nullable=True) or {},
    )


def _check_amount(payment: Payment, facts: SessionFacts) -> None:
    """Raises Refused when the session's amount or currency is not what citreg stored."""
    currency = facts.currency.lower() if facts.currency is not None else None
    if facts.amount_total != payment.amount_cents or currency != payment.currency.lower():
        raise Refused(
            f"Checkout Session {facts.id} has amount_total {_shown(facts.amount_total)} and "
            f"currency {_shown(currency)}, but payment {payment.pk} is for "
            f"{payment.amount_cents} {payment.currency}",
            registration_id=payment.registration_id,
        )


def _named_by_metadata(metadata: dict[str, str], **conditions: Any) -> Payment | None:
    """The Payment citreg created that ``metadata`` names (registration, payment and nonce all
    equal to what ``checkout`` wrote), among those matching ``conditions``; or None."""
    registration, payment, nonce = (
        metadata.get(key) for key in ("registration", "payment", "nonce")
    )
    if not (
        isinstance(registration, str)
        and isinstance(payment, str)
        and isinstance(nonce, str)
        and _ROW_ID.fullmatch(registration)
        and _ROW_ID.fullmatch(payment)
        and _NONCE.fullmatch(nonce)
    ):
        return None
    return Payment.objects.filter(
        pk=int(payment), registration_id=int(registration), nonce=nonce, **conditions
    ).first()


def _payment_for_session(facts: SessionFacts) -> Payment:
    """The Payment of a Checkout Session citreg created (adopting one whose id it never stored,
    under the rule of this module's docstring).

    Raises: Refused when the session is not citreg's or its amount or currency differ.
    """
    payment = Payment.objects.filter(stripe_checkout_session_id=facts.id).first()
    if payment is not None:
        _check_amount(payment, facts)
        return payment
    payment = _named_by_metadata(
        facts.metadata, stripe_checkout_session_id__isnull=True, status__in=ADOPTABLE_STATUSES
    )
    if payment is None:
        raise Refused(
            f"Checkout Session {facts.id} was not created by citreg: its id is not stored and "
            "its metadata names no payment of citreg's awaiting a session"
        )
    _check_amount(payment, facts)
    adopted = Payment.objects.filter(pk=payment.pk, stripe_checkout_session_id__isnull=True).update(
        stripe_checkout_session_id=facts.id, updated_at=timezone.now()
    )
    if adopted:
        logger.warning(
            "payments.session_adopted session=%s payment=%s registration=%s",
            facts.id, payment.pk, payment.registration_id,
        )  # fmt: skip
    return Payment.objects.get(pk=payment.pk)


def _payment_for_intent(obj: dict) -> Payment:
    """The Payment of a charge or dispute, by its PaymentIntent.

    Raises:
        Malformed: ``payment_intent`` is not a Stripe id.
        NotYetKnown: the PaymentIntent's metadata names a payment of citreg's whose completion
            has not been processed yet.
        Refused: the PaymentIntent is not citreg's.
        PaymentProviderError: Stripe could not be asked about an unknown PaymentIntent.
    """
    intent = _read(obj, "payment_intent", _is_id, "a Stripe id", nullable=True)
    if intent is None:
        raise Refused(f"{_shown(obj.get('id'))} has no PaymentIntent, so no Checkout payment")
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first()
    if payment is not None:
        return payment
    # Called inside the event's transaction, before any of our rows is locked.
    metadata = gateway().payment_intent_metadata(intent)
    awaiting = _named_by_metadata(
        metadata, stripe_payment_intent_id="", status__in=AWAITING_INTENT_STATUSES
    )
    if awaiting is not None:
        raise NotYetKnown(f"payment {awaiting.pk} has not recorded payment_intent {intent} yet")
    raise Refused(f"PaymentIntent {intent} is not a payment of citreg's")


def report_refused(event_id: str, event_type: str, refusal: Refused) -> None:
    """Alert staff, once per stored event, that an event was refused and changed nothing.

    When the event concerns a Payment citreg created (``refusal.registration_id``), that
    registration is flagged (``attention.flag``: its history and an email to the training
    administration); its state does not change. An event with nothing trustworthy in it names no
    registration to alert on (a claimed ``client_reference_id`` could point anywhere): the
    training administration gets one email about the event itself
    (``notices.send_payment_alert``), it is logged at WARNING and listed as refused among the
    webhook events in the admin.
    """
    logger.warning(
        "payments.event_refused id=%s type=%s registration=%s reason=%s",
        event_id, event_type, refusal.registration_id, refusal.reason,
    )  # fmt: skip
    registration = (
        Registration.objects.filter(pk=refusal.registration_id).first()
        if refusal.registration_id is not None
        else None
    )
    if registration is None:
        notices.send_payment_alert(event_id, event_type, refusal.reason)
    else:
        attention.flag(
            registration,
            f"Stripe event {event_id} ({event_type}) was refused and changed nothing: "
            f"{refusal.reason}.",
        )


def _refund_unwanted(payment: Payment, registration: Registration, why: str) -> None:
    """Refund a payment in full that the registration cannot take; flag it for staff."""
    refund = refunds.refund_request(
        payment=payment, amount_cents=payment.refundable_cents, reason=why, automatic=True
    )
    transaction.on_commit(lambda: refunds.execute_refund.delay(refund.pk))
    attention.flag(registration, f"Payment {payment.pk} refunded automatically: {why}")
    notices.send_payment_refunded_unwanted(registration, why)


def _hold_lapsed(registration: Registration, now: datetime) -> bool:
    return (
        registration.state == S.HELD
        and registration.hold_expires_at is not None
        and registration.hold_expires_at <= now
    )


def _record_lapse(registration: Registration) -> Registration:
    """A hold that ran out before the release task saw it: record it as expired."""
    return registration_transition(
        registration_id=registration.pk,
        to_state=S.EXPIRED,
        actor=Actor.system(),
        reason="Seat hold expired before the payment arrived.",
        hold_expires_at=None,
    ).registration


def checkout_completed(session: dict) -> None:
    """``checkout.session.completed`` (and ``…async_payment_succeeded``): paid → confirm;
    unpaid (delayed method) → processing.

    Raises: Malformed, Refused (see the module docstring).
    """
    facts = session_facts(session)
    payment = _payment_for_session(facts)
    Payment.objects.filter(pk=payment.pk, stripe_payment_intent_id="").update(
        stripe_payment_intent_id=facts.payment_intent or ""
    )
    if facts.payment_status in ("paid", "no_payment_required"):
        money_arrived(payment.pk)
    else:
        payment_processing(payment.pk)


def payment_processing(payment_id: int) -> None:
    """A delayed payment method is pending: keep the seat (``held`` → ``processing``).

    If the hold already lapsed, the registration takes a seat only if one is free; otherwise it
    stays expired and the money, if it lands, is refunded (``money_arrived``).
    """
    with transaction.atomic():
        rows = lock_payment(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status not in OPEN_CHECKOUT_STATUSES:
            return
        payment.status = Payment.Status.PROCESSING
        payment.save(update_fields=["status", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        seat_free = queries.seats_free(rows.offering, now) > 0
        if registration.state == S.HELD or (registration.state == S.EXPIRED and seat_free):
            registration_transition(
                registration_id=registration.pk,
                to_state=S.PROCESSING,
                actor=Actor.system(),
                reason="Payment pending with a delayed payment method.",
                hold_expires_at=None,
            )
        else:
            registration_note(
                registration,
                actor=Actor.system(),
                reason="A delayed payment is pending, but no seat is free; it will be refunded "
                "if it succeeds.",
            )


def money_arrived(payment_id: int) -> None:
    """The payment succeeded: confirm the seat, or refund when it cannot be kept.

    Confirms from ``held``/``processing``, and from ``expired`` (or a hold that lapsed before the
    release task ran) when a seat is still free; otherwise refunds in full, tells the attendee
    and flags staff.
    """
    with transaction.atomic():
        rows = lock_payment(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status == Payment.Status.PAID:
            return
        payment.status, payment.paid_at = Payment.Status.PAID, now
        payment.save(update_fields=["status", "paid_at", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        state = registration.state
        seat_free = queries.seats_free(rows.offering, now) > 0
        if state in (S.HELD, S.PROCESSING) or (state == S.EXPIRED and seat_free):
            result = registration_transition(
                registration_id=registration.pk,
                to_state=S.CONFIRMED,
                actor=Actor.system(),
                reason="Paid." if state != S.EXPIRED else "Paid after the hold lapsed; seat free.",
                hold_expires_at=None,
                hold_is_offer=False,
            )
            notices.send_confirmation(result.registration)
            _expire_other_sessions(payment)
            return
        if state == S.EXPIRED:
            why = "the payment arrived after your seat hold ended and the class is now full"
        elif state == S.CONFIRMED:
            why = "this registration was already paid"
        else:
            why = f"the registration is {registration.get_state_display().lower()}"
        _refund_unwanted(payment, registration, why)


def _expire_other_sessions(paid: Payment) -> None:
    others = Payment.objects.filter(
        registration_id=paid.registration_id, status__in=OPEN_CHECKOUT_STATUSES
    ).exclude(pk=paid.pk)
    for other in others:
        if other.stripe_checkout_session_id:
            session_id = other.stripe_checkout_session_id
            transaction.on_commit(partial(checkout.expire_checkout_session.delay, session_id))


def payment_failed(session: dict) -> None:
    """``checkout.session.async_payment_failed``: the pending payment failed; free the seat it
    was keeping (only if the registration is processing this very payment).

    Raises: Malformed, Refused (see the module docstring).
    """
    payment = _payment_for_session(session_facts(session))
    with transaction.atomic():
        rows = lock_payment(payment.pk)
        payment, registration = rows.payment, rows.registration
        if payment.status in (Payment.Status.PAID, Payment.Status.FAILED):
            return
        was_processing = payment.status == Payment.Status.PROCESSING
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status", "updated_at"])
        if was_processing and registration.state == S.PROCESSING:
            booking.release_seat(registration.pk, reason="The payment failed.")
            notices.send_payment_failed(registration)


def session_expired(session: dict) -> None:
    """``checkout.session.expired``: close the payment; release the hold only if this was the
    registration's live checkout and it is still unpaid. An abandoned earlier session changes
    nothing, and a waitlist offer (whose session ends before the offer) keeps its seat until the
    offer itself ends, so the person can start checkout again.

    Raises: Malformed, Refused (see the module docstring).
    """
    payment = _payment_for_session(session_facts(session))
    with transaction.atomic():
        rows = lock_payment(payment.pk)
        payment, registration = rows.payment, rows.registration
        if payment.status not in OPEN_CHECKOUT_STATUSES:
            return
        payment.status = Payment.Status.EXPIRED
        payment.save(update_fields=["status", "updated_at"])
        live = Payment.objects.filter(
            registration_id=payment.registration_id, status__in=LIVE_PAYMENT_STATUSES
        ).exists()
        offer_still_open = registration.hold_is_offer and (
            registration.hold_expires_at and registration.hold_expires_at > timezone.now()
        )
        if not live and registration.state == S.HELD and not offer_still_open:
            booking.release_seat(registration.pk, reason="Checkout expired unpaid.", notify=True)


def charge_refunded(charge: dict) -> None:
    """``charge.refunded``: bring the payment's refunded total up to ``amount_refunded`` (cents).

    Raises: Malformed, Refused; NotYetKnown when the payment's completion has not arrived yet
    (Stripe retries the delivery); PaymentProviderError (see ``_payment_for_intent``).
    """
    _read(charge, "id", _is_id, "a Stripe id")
    total = _read(charge, "amount_refunded", _is_cents, "whole cents")
    refunded_total(_payment_for_intent(charge), total)


def dispute_created(dispute: dict) -> None:
    """``charge.dispute.created``: flag the registration for staff (once per dispute).

    Raises: Malformed, Refused; NotYetKnown when the payment's completion has not arrived yet
    (Stripe retries the delivery); PaymentProviderError (see ``_payment_for_intent``).
    """
    dispute_id = _read(dispute, "id", _is_id, "a Stripe id")
    why = _read(dispute, "reason", _is_code, "a reason code", nullable=True)
    payment = _payment_for_intent(dispute)
    registration = payment.registration
    reason = f"Payment disputed ({why or 'no reason given'}); dispute {dispute_id}."
    if registration.attention_reason != reason:
        attention.flag(registration, reason)
