"""Issuing refunds through the payment gateway, recorded first and idempotent.

A refund is a row (``pending``) with its own idempotency key before anything is sent; the gateway
call uses that key, so a retried request cannot refund twice. Success raises the payment's
refunded total (``ledger.refunded_total``). Automatic refunds (money a registration cannot take)
are issued by the ``execute_refund`` task, retried with backoff while the provider is
unreachable, then flagged for staff.

A refund stays ``pending`` only while its request or task runs. One whose request died or whose
task was lost (a broker outage at publishing, a worker killed) is issued again by the beat task
``retry_pending_refunds`` once it has not changed for ``REFUND_PENDING_GRACE_SECONDS``, with the
same idempotency key, so Stripe answers with the refund it may already have made. Stripe keeps
idempotency keys for 24 hours only (https://docs.stripe.com/api/idempotent_requests): a refund
still pending near that age is not sent again (it could be paid twice) but marked failed and
flagged for staff to check in Stripe's dashboard.
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from registrations.enums import RefundStatus
from registrations.messaging.outbox import retry_for_missing_row

from . import attention, ledger
from .gateway import PaymentProviderError, gateway
from .models import Payment, Refund

logger = logging.getLogger("citreg.payments")

REFUND_TASK_MAX_RETRIES = 5
# Past this age a pending refund is not replayed: Stripe may have pruned its idempotency key.
REPLAY_WINDOW = timedelta(hours=23)
SWEEP_BATCH = 50


def refund_request(
    *,
    payment: Payment,
    amount_cents: int,
    reason: str,
    staff_user: User | None = None,
    automatic: bool = False,
) -> Refund:
    """Record a refund to be issued (status pending) with its own idempotency key.

    Args:
        amount_cents: integer cents, at most what is left to refund (less pending refunds).

    Raises: ValueError when ``amount_cents`` is not between 1 and what is left to refund.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        pending = sum(r.amount_cents for r in payment.refunds.filter(status=RefundStatus.PENDING))
        left = payment.refundable_cents - pending
        if not 0 < amount_cents <= left:
            raise ValueError(
                f"A refund must be between $0.01 and ${left / 100:.2f} (what is left to refund)."
            )
        number = payment.refunds.count() + 1
        return Refund.objects.create(
            payment=payment,
            amount_cents=amount_cents,
            reason=reason,
            created_by=staff_user,
            automatic=automatic,
            idempotency_key=f"refund:{payment.pk}:{number}",
        )


def refund_execute(refund_id: int) -> Refund:
    """Issue a pending refund through the gateway and record the outcome. Idempotent: a refund
    that already succeeded is returned as is, and Stripe replays a retried request (same key).

    On success the payment's refunded total goes up (``ledger.refunded_total``), which moves a
    fully refunded registration to ``refunded``.

    Raises: PaymentProviderError when the provider refuses (the refund is marked failed;
    nothing else changes).
    """
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status == RefundStatus.SUCCEEDED:
        return refund
    try:
        provider_id = gateway().refund_create(
            payment_intent_id=refund.payment.stripe_payment_intent_id,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
        )
    except PaymentProviderError as exc:
        Refund.objects.filter(pk=refund.pk).update(
            status=RefundStatus.FAILED, error=exc.message, updated_at=timezone.now()
        )
        raise
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.status != RefundStatus.SUCCEEDED:
            refund.status, refund.stripe_refund_id, refund.error = (
                RefundStatus.SUCCEEDED,
                provider_id,
                "",
            )
            refund.save(update_fields=["status", "stripe_refund_id", "error", "updated_at"])
            payment = refund.payment
            total = sum(
                r.amount_cents for r in payment.refunds.filter(status=RefundStatus.SUCCEEDED)
            )
            ledger.refunded_total(payment, total)
    return refund


def refund_failed(refund_id: int, message: str) -> None:
    """A refund issued by a task could not be issued after retries: flag the registration for
    staff."""
    refund = Refund.objects.select_related("payment__registration").get(pk=refund_id)
    kind = "Automatic refund" if refund.automatic else "Refund"
    attention.flag(refund.payment.registration, f"{kind} {refund.pk} failed: {message}")


@shared_task(
    name="registrations.execute_refund",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=REFUND_TASK_MAX_RETRIES,
)
def execute_refund(self: Task, refund_id: int) -> str:
    """Issue an automatic refund; retried with backoff (2, 4, … 32 s) while the provider is
    unreachable, then left failed and flagged for staff. Returns the refund's status. A refund
    it cannot see is waited for, then reported (``outbox.retry_for_missing_row``)."""
    try:
        return refund_execute(refund_id).status
    except Refund.DoesNotExist:
        retry_for_missing_row(self, model="Refund", row_id=refund_id)
    except PaymentProviderError as exc:
        if self.request.retries >= REFUND_TASK_MAX_RETRIES:
            refund_failed(refund_id, exc.message)
            return "failed"
        raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc


def refunds_retry_pending(now: datetime | None = None) -> list[int]:
    """Beat: issue again every refund left ``pending`` for ``REFUND_PENDING_GRACE_SECONDS``
    (its request died or its task was lost), by publishing ``execute_refund``; one older than
    ``REPLAY_WINDOW`` is marked failed and flagged instead (see the module docstring).

    Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and their ``updated_at`` moved on,
    so concurrent runs do not publish one refund twice within the grace (twice would still be
    harmless: same idempotency key). Returns the ids published.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.REFUND_PENDING_GRACE_SECONDS)
    with transaction.atomic():
        rows = list(
            Refund.objects.select_for_update(skip_locked=True)
            .filter(status=RefundStatus.PENDING, updated_at__lte=now - grace)
            .order_by("updated_at", "pk")
            .values_list("pk", "created_at")[:SWEEP_BATCH]
        )
        Refund.objects.filter(pk__in=[pk for pk, _ in rows]).update(updated_at=now)
    published = []
    for pk, created_at in rows:
        if created_at <= now - REPLAY_WINDOW:
            _give_up(pk)
            continue
        try:
            execute_refund.delay(pk)
        except Exception as exc:  # noqa: BLE001 — any broker error: the next run tries again.
            logger.warning("payments.refund_publish_failed refund=%s error=%s", pk,
                           exc.__class__.__name__)  # fmt: skip
            continue
        published.append(pk)
    if rows:
        logger.warning("payments.refunds_pending found=%s published=%s", len(rows), len(published))
    return published


def _give_up(refund_id: int) -> None:
    message = (
        "Still pending after 23 hours, so it was not sent again (Stripe may have forgotten its "
        "idempotency key): check the payment in Stripe's dashboard."
    )
    with transaction.atomic():
        updated = Refund.objects.filter(pk=refund_id, status=RefundStatus.PENDING).update(
            status=RefundStatus.FAILED, error=message, updated_at=timezone.now()
        )
        if updated:
            refund_failed(refund_id, message)
    logger.error("payments.refund_abandoned refund=%s", refund_id)


@shared_task(name="registrations.retry_pending_refunds", ignore_result=True)
def retry_pending_refunds() -> int:
    """Beat, every two minutes: issue again refunds left pending (``refunds_retry_pending``).
    Returns how many were published."""
    return len(refunds_retry_pending())
