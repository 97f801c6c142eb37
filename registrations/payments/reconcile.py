"""Payments left ``creating``: the way out of a checkout whose request died.

``checkout`` commits a ``creating`` Payment, asks Stripe for its Checkout Session (with the
payment's idempotency key and the metadata ``registration``, ``payment`` and ``nonce``), then
stores the session. A request that dies in between (the database connection dropped, the process
was killed, Stripe's answer was lost after the library's retries) leaves the row ``creating``,
perhaps with a session at Stripe that citreg never stored. The database allows one
creating-or-open payment per registration, so such a row would block every later checkout.

``reconcile_creating`` (beat ``registrations.reconcile_payments``, every minute) and the next
Pay press of that registration (``checkout``) take each such row once it has not changed for
``CHECKOUT_RECONCILE_GRACE_SECONDS`` (longer than any Stripe call lasts: ``stripe_gateway``),
and look for its session at Stripe by the metadata citreg wrote. Stripe has no metadata search
for Checkout Sessions, so the gateway lists the sessions created around the payment's creation
(``SEARCH_BEFORE``, ``SEARCH_AFTER``).

Why not replay the create call with the same idempotency key: a replay must send exactly the
first call's parameters (the course title or the attendee's address may have changed since, and
Stripe then answers with an idempotency error), and when the first call never reached Stripe a
replay creates a session instead of telling there is none. Listing needs neither.

What the session found decides:

- none: the payment is ``failed`` (nothing exists at Stripe); the registration keeps its hold and
  can pay again;
- open, and the registration's seat hold has not ended: adopted (id, URL, ``open``), so the
  next Pay press reuses it;
- open, and the hold has ended (or the registration no longer holds a seat): adopted, expired at
  Stripe, and the payment ``expired``;
- complete: adopted (``open``, without URL); Stripe's ``checkout.session.completed``, retried
  until answered, settles it (``settlement``);
- expired: the payment ``expired``.

A payment older than Stripe's 24 hours (idempotency keys and Checkout Sessions live no longer) is
``failed`` without asking Stripe. A seat hold that has ended is released (``booking.release_seat``)
as the hold sweeper would, so the registration can hold and pay again. Each outcome is recorded in
the payment's history (change reason), the registration's events and the log.

The same beat task also ends ``open`` and ``processing`` payments whose ending event from
Stripe never came (``reconcile_stale``): an open one past its session's end is expired, or, when
Stripe says it was completed, flagged for staff; one processing for a week is flagged.

Concurrent runs are safe: a run claims its rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and moves
their ``updated_at`` on, so other runs and requests leave them alone for the grace, and every
outcome is applied under the payment's lock only while the payment is still ``creating``. Stripe
is never called while a lock is held (``docs/architecture.md``, "Lock order").
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registrations.enums import RegistrationState as S
from registrations.locking import lock_rows
from registrations.models import Registration
from registrations.seats import booking
from registrations.transitions import Actor, registration_note

from . import attention
from .gateway import CheckoutSession, PaymentProviderError, gateway
from .models import Payment

logger = logging.getLogger("citreg.payments")

CREATING, OPEN = Payment.Status.CREATING, Payment.Status.OPEN
# Stripe prunes idempotency keys after 24 hours and no Checkout Session lives longer
# (https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/api/checkout/sessions/create).
STRIPE_WINDOW = timedelta(hours=24)
# Where the session's ``created`` can fall: the create call starts right after the row is
# committed and ends within the grace; the margins allow for citreg's and Stripe's clocks.
SEARCH_BEFORE = timedelta(minutes=5)
SEARCH_AFTER = timedelta(minutes=15)
BATCH = 50  # rows one beat run claims
# An open payment this long past its session's end, whose checkout.session.expired (or
# completed) never arrived, is looked at again at Stripe.
STALE_OPEN = timedelta(hours=1)
# A delayed payment (US bank debit) settles within four business days
# (https://docs.stripe.com/payments/ach-direct-debit): after a week, staff look.
PROCESSING_ATTENTION = timedelta(days=7)
REASON_MAX = 100  # simple-history's history_change_reason


def grace() -> timedelta:
    """How long a ``creating`` payment may stay unchanged before it counts as abandoned."""
    return timedelta(seconds=settings.CHECKOUT_RECONCILE_GRACE_SECONDS)


def is_abandoned(payment: Payment, now: datetime | None = None) -> bool:
    """True when ``payment`` is ``creating`` and unchanged for ``grace()``: its request is over."""
    now = now or timezone.now()
    return payment.status == CREATING and payment.updated_at <= now - grace()


def _claim(now: datetime, payment_id: int | None = None, **lookups: object) -> list[int]:
    """Claim payments (default: abandoned ``creating`` ones; else those matching ``lookups``),
    skipping rows another transaction has locked, by moving their ``updated_at`` to ``now``;
    returns their ids, oldest first."""
    lookups = lookups or {"status": CREATING, "updated_at__lte": now - grace()}
    with transaction.atomic():
        rows = Payment.objects.select_for_update(skip_locked=True).filter(**lookups)
        if payment_id is not None:
            rows = rows.filter(pk=payment_id)
        ids = list(rows.order_by("updated_at", "pk").values_list("pk", flat=True)[:BATCH])
        Payment.objects.filter(pk__in=ids).update(updated_at=now)
    return ids


def reconcile_creating(now: datetime | None = None) -> dict[int, str]:
    """Beat: reconcile every abandoned ``creating`` payment (at most ``BATCH`` a run).

    Returns: payment id → outcome ("failed", "adopted", "expired", "settled" when something
    else settled it meanwhile, "unreachable" when Stripe could not be asked: tried again after
    the grace).
    """
    now = now or timezone.now()
    outcomes: dict[int, str] = {}
    for payment_id in _claim(now):
        try:
            outcomes[payment_id] = _reconcile(payment_id, now)
        except PaymentProviderError as exc:
            logger.warning(
                "payments.reconcile_unreachable payment=%s error=%s", payment_id, exc.message
            )
            outcomes[payment_id] = "unreachable"
    return outcomes


def reconcile_payment(payment_id: int, now: datetime | None = None) -> str:
    """Reconcile one payment now, if it is abandoned (a Pay press found it in its way).

    Returns: the outcome as in ``reconcile_creating``, or "busy" when the payment is not
    abandoned (its request may still be running, or another run has just claimed it).
    Raises: PaymentProviderError when Stripe cannot be asked (the payment stays ``creating``).
    """
    now = now or timezone.now()
    if not _claim(now, payment_id):
        return "busy"
    return _reconcile(payment_id, now)


def _reconcile(payment_id: int, now: datetime) -> str:
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != CREATING:
        return "settled"
    if payment.created_at <= now - STRIPE_WINDOW:
        outcome = _close(
            payment_id,
            Payment.Status.FAILED,
            "Still creating after 24 hours: any Checkout Session has expired.",
        )
    else:
        session = gateway().checkout_session_find(
            metadata=_metadata(payment),
            created_from=payment.created_at - SEARCH_BEFORE,
            created_to=payment.created_at + SEARCH_AFTER,
        )
        outcome = _apply(payment, session, now)
    _release_if_lapsed(payment.registration_id, now)
    return outcome


def _metadata(payment: Payment) -> dict[str, str]:
    """What ``checkout`` wrote into the session's metadata that only this payment has."""
    found = {"registration": str(payment.registration_id), "payment": str(payment.pk)}
    if payment.nonce:
        found["nonce"] = payment.nonce
    return found


def _apply(payment: Payment, session: CheckoutSession | None, now: datetime) -> str:
    if session is None:
        return _close(
            payment.pk,
            Payment.Status.FAILED,
            "No Checkout Session at Stripe: the checkout stopped before one was made.",
        )
    if session.status == "expired":
        return _close(
            payment.pk, Payment.Status.EXPIRED, "Its Checkout Session had expired.", session=session
        )
    usable = _adopt(payment, session, now)
    if usable is None:
        return "settled"
    if usable or session.status != "open":
        return "adopted"
    # Open, but the hold it was for has ended: no one may pay it (no lock is held here).
    expired = gateway().checkout_session_expire(session.id)
    if not expired and gateway().checkout_session_status(session.id) != "expired":
        return "adopted"  # completed meanwhile: its webhook settles it
    return _close(
        payment.pk,
        Payment.Status.EXPIRED,
        "Checkout Session expired at Stripe: the seat hold had ended.",
        from_status=OPEN,
    )


def _adopt(payment: Payment, session: CheckoutSession, now: datetime) -> bool | None:
    """Store ``session`` as the payment's (``open``; its URL only while it is open).

    Returns: whether the registration can still pay it (a seat hold that has not ended), or
    None when the payment is no longer ``creating`` (nothing changed).
    """
    with transaction.atomic():
        rows = lock_rows(payment_id=payment.pk, registration_id=payment.registration_id)
        locked, registration = rows.payment, rows.registration
        assert isinstance(locked, Payment) and registration is not None
        if locked.status != CREATING or locked.stripe_checkout_session_id not in (None, session.id):
            return None
        locked.stripe_checkout_session_id = session.id
        locked.checkout_url = session.url if session.status == "open" else ""
        locked.status = OPEN
        _record(
            locked,
            registration,
            f"Adopted its {session.status} Checkout Session from Stripe.",
            ["stripe_checkout_session_id", "checkout_url", "status", "updated_at"],
        )
        hold_end = registration.hold_expires_at
        return registration.state == S.HELD and hold_end is not None and hold_end > now


def close_creating(payment_id: int, status: str, reason: str) -> bool:
    """End a ``creating`` payment (``failed`` or ``expired``) and record why; False when it was no
    longer ``creating``. Used by ``checkout`` when Stripe refused the session outright."""
    return _close(payment_id, status, reason) != "settled"


def _close(
    payment_id: int,
    status: str,
    reason: str,
    *,
    session: CheckoutSession | None = None,
    from_status: str = CREATING,
) -> str:
    """Move the payment from ``from_status`` to ``status`` (keeping a session id it did not
    have). Returns ``status``, or "settled" when the payment had already moved on."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != from_status:
            return "settled"
        payment.status = status
        payment.checkout_url = ""
        fields = ["status", "checkout_url", "updated_at"]
        if session is not None and payment.stripe_checkout_session_id is None:
            payment.stripe_checkout_session_id = session.id
            fields.append("stripe_checkout_session_id")
        _record(payment, Registration.objects.get(pk=payment.registration_id), reason, fields)
    return status


def _record(payment: Payment, registration: Registration, reason: str, fields: list[str]) -> None:
    """Save ``fields`` of ``payment`` with ``reason`` in its history, note it on the
    registration and log it."""
    payment._change_reason = reason[:REASON_MAX]  # type: ignore[attr-defined]
    payment.save(update_fields=fields)
    registration_note(
        registration, actor=Actor.system(), reason=f"Payment {payment.pk} ({payment.status}): "
        f"{reason}"
    )  # fmt: skip
    logger.warning(
        "payments.checkout_outcome payment=%s registration=%s status=%s reason=%s",
        payment.pk, registration.pk, payment.status, reason,
    )  # fmt: skip


def _release_if_lapsed(registration_id: int, now: datetime) -> None:
    """Release a seat hold that has ended (what ``booking.release_expired_holds`` does a minute
    later anyway), so the registration can hold a seat and pay again."""
    registration = Registration.objects.filter(pk=registration_id).first()
    if (
        registration is not None
        and registration.state == S.HELD
        and registration.hold_expires_at is not None
        and registration.hold_expires_at <= now
    ):
        booking.release_seat(registration_id, reason="Seat hold expired unpaid.", notify=True)


def reconcile_stale(now: datetime | None = None) -> dict[int, str]:
    """Beat: payments whose ending event from Stripe never came (Stripe retries a webhook for
    three days; the endpoint may have been down or misconfigured longer).

    - ``open`` an hour past its session's ``expires_at``: Stripe's status decides. Expired (or
      still open, then expired now): the payment is ``expired``. Complete: the money may have
      been taken with no confirmation here, so staff are flagged to resend the event from
      Stripe's dashboard. Checked again hourly.
    - ``processing`` for ``PROCESSING_ATTENTION`` (bank debits settle within four business
      days): staff are flagged. Checked again after as long.

    Returns: payment id → "expired", "flagged", "waiting" (flagged before), "settled" or
    "unreachable".
    """
    now = now or timezone.now()
    outcomes: dict[int, str] = {}
    stale_open = _claim(
        now, status=OPEN, expires_at__lte=now - STALE_OPEN, updated_at__lte=now - STALE_OPEN
    )
    for payment_id in stale_open:
        try:
            outcomes[payment_id] = _stale_open(payment_id)
        except PaymentProviderError as exc:
            logger.warning(
                "payments.reconcile_unreachable payment=%s error=%s", payment_id, exc.message
            )
            outcomes[payment_id] = "unreachable"
    old = now - PROCESSING_ATTENTION
    for payment_id in _claim(now, status=Payment.Status.PROCESSING, updated_at__lte=old):
        outcomes[payment_id] = _flag(
            payment_id,
            f"Payment {payment_id} has been processing for over {PROCESSING_ATTENTION.days} days "
            "and Stripe's outcome never arrived: check it in Stripe's dashboard.",
        )
    return outcomes


def _stale_open(payment_id: int) -> str:
    payment = Payment.objects.get(pk=payment_id)
    session_id = payment.stripe_checkout_session_id
    if payment.status != OPEN or not session_id:
        return "settled"
    status = gateway().checkout_session_status(session_id)
    if status == "open":
        # Stripe refuses to expire a session that ended between the two calls (it expired by
        # itself, or was paid): ask again rather than read the refusal as a payment.
        expired = gateway().checkout_session_expire(session_id)
        status = "expired" if expired else gateway().checkout_session_status(session_id)
    if status == "expired":
        return _close(
            payment_id,
            Payment.Status.EXPIRED,
            "Its Checkout Session expired at Stripe; Stripe's event never arrived.",
            from_status=OPEN,
        )
    return _flag(
        payment_id,
        f"Checkout Session {session_id} of payment {payment_id} was completed at Stripe but "
        "its event never reached citreg: resend checkout.session.completed from Stripe's "
        "dashboard.",
    )


def _flag(payment_id: int, reason: str) -> str:
    """Flag the payment's registration for staff with ``reason``, unless it already is."""
    registration = Registration.objects.get(payments__pk=payment_id)
    if registration.attention_reason == reason:
        return "waiting"
    attention.flag(registration, reason)
    logger.warning("payments.stale payment=%s registration=%s", payment_id, registration.pk)
    return "flagged"


@shared_task(name="registrations.reconcile_payments", ignore_result=True)
def reconcile_payments() -> int:
    """Beat, every minute (``CHECKOUT_RECONCILE_INTERVAL_SECONDS``): reconcile payments left
    ``creating`` by a checkout request that died, and those whose ending event from Stripe never
    came (``reconcile_stale``). Returns how many were looked at."""
    return len(reconcile_creating()) + len(reconcile_stale())
