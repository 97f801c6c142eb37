"""Celery tasks: thin wrappers that take ids and call ``registrations.emails``."""

from celery import shared_task

from . import emails


@shared_task(acks_late=True, ignore_result=True)
def send_outbound_email(email_id: int) -> str:
    """Send one ``OutboundEmail`` row; on a temporary failure enqueue the next attempt after the
    backoff the row records. Returns the outcome ("sent", "retry", ...)."""
    result = emails.email_send(email_id)
    if result.outcome == "retry":
        emails.enqueue_send(email_id, countdown=result.retry_in)
    return result.outcome


@shared_task(ignore_result=True)
def sweep_outbound_email() -> int:
    """Beat, every minute: re-enqueue queued rows whose publish was lost and stuck rows."""
    return emails.email_sweep()


@shared_task(ignore_result=True)
def release_expired_holds() -> int:
    """Beat, every minute: release seat holds whose time is up and offer the seats on."""
    from .booking import release_expired_holds as release

    return release()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=5)
def execute_refund(self, refund_id: int) -> str:
    """Issue an automatic refund at Stripe; retried with backoff while Stripe is unreachable,
    then left failed and flagged for staff."""
    from .payments import PaymentProviderError
    from .refunds import refund_execute

    try:
        return refund_execute(refund_id).status
    except PaymentProviderError as exc:
        if self.request.retries >= self.max_retries:
            from .settlement import refund_failed

            refund_failed(refund_id, exc.message)
            return "failed"
        raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(acks_late=True, ignore_result=True)
def expire_checkout_session(session_id: str) -> bool:
    """Expire a Checkout Session at Stripe that must no longer be paid."""
    from .payments import checkout_session_expire

    return checkout_session_expire(session_id)


@shared_task(ignore_result=True)
def send_due_reminders() -> int:
    """Beat, every few minutes: queue the reminders that are due (``registrations.reminders``).
    Returns how many were queued."""
    from . import reminders

    return reminders.reminders_send_due().queued


@shared_task(acks_late=True, ignore_result=True)
def pump_broadcast(broadcast_id: int) -> int:
    """Publish a broadcast's messages whose moment came; run again a few seconds later while any
    are queued (``registrations.broadcasts.broadcast_pump``). Returns how many were published."""
    from . import broadcasts

    result = broadcasts.broadcast_pump(broadcast_id)
    if result.next_in is not None:
        pump_broadcast.apply_async(args=[broadcast_id], countdown=result.next_in)
    return result.published
