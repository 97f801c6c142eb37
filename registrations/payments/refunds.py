"""Issuing refunds through the payment gateway, recorded first and idempotent.

A refund is a row (``pending``) with its own idempotency key before anything is sent; the gateway
call uses that key, so a retried request cannot refund twice. Success raises the payment's
refunded total (``ledger.refunded_total``). Automatic refunds (money a registration cannot take)
are issued by the ``execute_refund`` task, retried with backoff while the provider is
unreachable, then flagged for staff.
"""

from celery import shared_task
from celery.app.task import Task
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from registrations.enums import RefundStatus

from . import attention, ledger
from .gateway import PaymentProviderError, gateway
from .models import Payment, Refund

REFUND_TASK_MAX_RETRIES = 5


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
    """An automatic refund could not be issued after retries: flag the registration for staff."""
    refund = Refund.objects.select_related("payment__registration").get(pk=refund_id)
    attention.flag(refund.payment.registration, f"Automatic refund {refund.pk} failed: {message}")


@shared_task(
    name="registrations.execute_refund",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=REFUND_TASK_MAX_RETRIES,
)
def execute_refund(self: Task, refund_id: int) -> str:
    """Issue an automatic refund; retried with backoff (2, 4, … 32 s) while the provider is
    unreachable, then left failed and flagged for staff. Returns the refund's status."""
    try:
        return refund_execute(refund_id).status
    except PaymentProviderError as exc:
        if self.request.retries >= REFUND_TASK_MAX_RETRIES:
            refund_failed(refund_id, exc.message)
            return "failed"
        raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc
