"""Cancelling a class: the offering is cancelled at once, then every registrant is handled in
the background, each once (``docs/architecture.md``, "Flows", "Cancelling a class").

``class_cancel`` cancels the offering and records a ``ClassCancellation`` (re-running it is
safe), then enqueues ``process_class_cancellation`` after commit. The task walks the class's
registrations in batches, each in its own transaction under the registration's locks, and gives
each active one its ``CancellationChoice`` row (unique per cancellation and registration, so a
rerun never handles anyone twice):

- confirmed: emailed (``class_cancelled``, with an iTIP CANCEL of the sessions) a choice of a
  move to another class (``transfers.transfer``: deadline, limit and fee waived) or a full
  refund, both by signed links valid until ``choice_deadline``; with ``refund_everyone``
  refunded in full at once;
- held: its open Checkout Sessions expired at Stripe, then cancelled (the seat is released);
- waiting for eligibility (pending email or review, eligible, expired): cancelled;
- waitlisted: cancelled, told the waitlist is closed.

A full refund is every paid payment of the registration (tuition and transfer fees,
``Payment.purpose``) refunded for what is left on it. The refunds are requested
(``refunds.refund_request``, each with its idempotency key) in the same transaction that marks
the choice refunded, then issued; a refund left pending (the worker died) is issued again with
its key, by the rerun or by ``refunds.retry_pending_refunds``, so nobody is refunded twice. The
emails carry ``class_cancelled:<cancellation id>:<registration id>`` as dedupe key.

Registrants who have not chosen by ``choice_deadline`` (``CLASS_CANCELLATION_CHOICE_DAYS`` after
the cancellation) are refunded in full by the beat task ``refund_unchosen_cancellations``.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from courses.models import Offering
from registrations import links
from registrations.enums import INACTIVE_STATES
from registrations.enums import RegistrationState as S
from registrations.locking import lock_seat
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import PERSONAL_LINK, email_queue, register_kind
from registrations.models import Registration
from registrations.payments import checkout, refunds
from registrations.payments.gateway import PaymentProviderError
from registrations.payments.models import Payment, Refund
from registrations.transitions import Actor, registration_note, registration_transition

from . import transfers
from .models import CancellationChoice, ClassCancellation

logger = logging.getLogger("citreg.changes")

Choice = CancellationChoice.Choice
Outcome = CancellationChoice.Outcome

BATCH_SIZE = 25
TASK_MAX_RETRIES = 5
LINK_SALT = "registrations.class-cancellation"
# States a cancellation ends at no cost (nothing paid, no seat or an unpaid hold).
UNPAID_STATES = (S.PENDING_EMAIL, S.PENDING_REVIEW, S.ELIGIBLE, S.EXPIRED, S.HELD)
# Links the stored email context holds as PERSONAL_LINK, made when the message is sent.
CHOICE_LINKS = ("move_url", "refund_url")


def _with_choice_links(email: OutboundEmail) -> dict:
    """Outbox hook: the manage link (``notices.with_links``) and, for a registrant who may
    still choose, the signed move and refund links, made now."""
    context = notices.with_links(email)
    wanted = [key for key in CHOICE_LINKS if key in context]
    if not wanted or email.registration is None:
        return context
    choice = (
        CancellationChoice.objects.select_related("cancellation", "registration")
        .filter(registration=email.registration, cancellation__offering=email.registration.offering)
        .first()
    )
    for key in wanted:
        kind = "move" if key == "move_url" else "refund"
        context[key] = choice_url(choice, kind) if choice is not None else ""
    return context


CLASS_CANCELLED = register_kind(
    "class_cancelled",
    "Class cancelled (calendar cancellation, move or refund)",
    refresh_context=_with_choice_links,
)


class ChoiceRefused(Exception):  # noqa: N818 -- the domain's word
    """The registrant's choice cannot be made now; ``message`` says why, in words."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


# --- Preview and starting -------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationPreview:
    """What cancelling a class touches: registrations per state (active ones only), how many
    that is, and the cents paid and still refundable over all their paid payments."""

    counts: dict[str, int]
    total: int
    paid_cents: int


def _active(offering: Offering):
    return Registration.objects.filter(offering=offering).exclude(
        state__in=(*INACTIVE_STATES, S.COMPLETED)
    )


def cancellation_preview(offering: Offering) -> CancellationPreview:
    """Counts per registration state of the class's active registrations (not rejected,
    cancelled, refunded or completed) and the refundable total in integer cents of their paid
    payments (tuition and transfer fees). Reads without locking."""
    rows = _active(offering).values("state").annotate(n=Count("pk")).order_by("state")
    counts = {row["state"]: row["n"] for row in rows}
    paid = Payment.objects.filter(
        registration__in=_active(offering), status=Payment.Status.PAID
    ).aggregate(amount=Sum("amount_cents"), refunded=Sum("amount_refunded_cents"))
    paid_cents = (paid["amount"] or 0) - (paid["refunded"] or 0)
    return CancellationPreview(counts, sum(counts.values()), paid_cents)


def class_cancel(
    offering: Offering, *, reason: str, refund_everyone: bool, staff_user: User
) -> ClassCancellation:
    """Cancel ``offering`` and start handling its registrants in the background.

    In one transaction (the offering locked): ``Offering.status`` becomes cancelled (saved
    through the model, so the seat receivers see it; no "class updated" email is sent, that one
    follows changes of times or meeting link only), the ``ClassCancellation`` is created with
    ``choice_deadline`` = now + ``CLASS_CANCELLATION_CHOICE_DAYS`` days (an existing one is kept:
    re-running is safe), and ``process_class_cancellation`` is enqueued after commit.

    Returns: the cancellation (the existing one on a rerun).
    """
    with transaction.atomic():
        locked = Offering.objects.select_for_update().get(pk=offering.pk)
        if locked.status != Offering.Status.CANCELLED:
            locked.status = Offering.Status.CANCELLED
            locked.save(update_fields=["status", "updated_at"])
        cancellation, _ = ClassCancellation.objects.get_or_create(
            offering=locked,
            defaults={
                "reason": reason,
                "refund_everyone": refund_everyone,
                "created_by": staff_user,
                "choice_deadline": timezone.now()
                + timedelta(days=settings.CLASS_CANCELLATION_CHOICE_DAYS),
            },
        )
        pk = cancellation.pk
        transaction.on_commit(lambda: _enqueue(pk))
    return cancellation


def _enqueue(cancellation_id: int) -> None:
    try:
        process_class_cancellation.delay(cancellation_id)
    except Exception as exc:  # noqa: BLE001 — any broker error: staff re-run the action.
        logger.warning(
            "changes.class_cancellation_publish_failed cancellation=%s error=%s",
            cancellation_id,
            exc.__class__.__name__,
        )


# --- Links ----------------------------------------------------------------------------------


def choice_url(choice: CancellationChoice, kind: str) -> str:
    """Absolute URL of the registrant's ``kind`` ("move" or "refund") link: signed
    (``links.object_url``), valid until the cancellation's ``choice_deadline`` and only while the
    registration keeps its course email."""
    name = (
        "registrations:class-cancelled-move"
        if kind == "move"
        else "registrations:class-cancelled-refund"
    )
    return links.object_url(
        name, LINK_SALT, choice.pk, choice.registration.email, choice.cancellation.choice_deadline
    )


def cancellation_choice(pk: int) -> CancellationChoice | None:
    """The choice ``pk`` with its class, course and registration, or None."""
    return (
        CancellationChoice.objects.select_related(
            "cancellation__offering__course", "registration__offering__course"
        )
        .filter(pk=pk)
        .first()
    )


def read_choice_link(link: links.ObjectLink) -> CancellationChoice:
    """The choice a checked link or grant names (``links.read_object_link`` /
    ``read_object_grant`` with ``LINK_SALT``).

    Raises: ChoiceRefused — for a deleted choice, or the course email changed since.
    """
    choice = cancellation_choice(link.pk)
    if choice is None:
        raise ChoiceRefused("This link is for a registration that no longer exists.")
    if not link.made_for(choice.registration.email):
        raise ChoiceRefused("This link was made for an address that has since changed.")
    return choice


def read_choice_token(token: str) -> tuple[CancellationChoice, float]:
    """The choice a token names and when the token stops working (Unix seconds).

    Raises: ChoiceRefused — altered, expired, for a deleted choice, or the course email changed.
    """
    try:
        link = links.read_object_link(LINK_SALT, token)
    except links.LinkError as exc:
        raise ChoiceRefused(str(exc)) from exc
    return read_choice_link(link), link.expires_at


def open_choice(registration: Registration) -> CancellationChoice | None:
    """The registration's choice in its current class's cancellation while it may still choose
    (pending, open, before the deadline), else None."""
    return (
        CancellationChoice.objects.select_related("cancellation")
        .filter(
            registration=registration,
            cancellation__offering_id=registration.offering_id,
            choice=Choice.PENDING,
            outcome=Outcome.OPEN,
            cancellation__choice_deadline__gt=timezone.now(),
        )
        .first()
    )


# --- The background work --------------------------------------------------------------------


def send_class_cancelled(
    registration: Registration, cancellation: ClassCancellation, variant: str
) -> None:
    """Queue the one ``class_cancelled`` email of this registrant, sent after commit, once
    (``class_cancelled:<cancellation id>:<registration id>``). ``variant``: "choose" (the move
    and refund links, made when sent, and the deadline in MT and the attendee's zone),
    "refunding" (refund everyone), "ended" (nothing paid) or "waitlist" (the waitlist closed).
    The paid variants carry an iTIP ``METHOD:CANCEL`` of the class's sessions."""
    context = {
        **notices.registration_context(registration),
        "reason": cancellation.reason,
        "variant": variant,
        "contact_email": registration.offering.course.contact_email
        or settings.TRAINING_ADMIN_EMAIL,
    }
    attachments = []
    if variant in ("choose", "refunding"):
        attachments.append(notices.invitation_attachment(registration, "CANCEL"))
    if variant == "choose":
        context.update(
            move_url=PERSONAL_LINK,
            refund_url=PERSONAL_LINK,
            choice_deadline=notices.moment_label(registration, cancellation.choice_deadline),
        )
    email_queue(
        kind=CLASS_CANCELLED,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/class_cancelled",
        context=context,
        attachments=attachments,
        dedupe_key=f"class_cancelled:{cancellation.pk}:{registration.pk}",
        registration=registration,
    )


def _actor(cancellation: ClassCancellation) -> Actor:
    user = cancellation.created_by
    return Actor.staff(user) if user is not None else Actor.system()


def _expire_checkout(registration: Registration) -> str:
    """Expire a held registration's open Checkout Sessions; the error in words, or ""."""
    if registration.state != S.HELD:
        return ""
    try:
        checkout.expire_open_sessions(registration)
    except checkout.CheckoutUnavailable as exc:
        return str(exc)
    return ""


def _handle(cancellation: ClassCancellation, registration_id: int) -> int | None:
    """Give one registration its choice row, in its own transaction under its locks.

    Returns: the choice's id when a full refund is due now, else None."""
    registration = Registration.objects.select_related("offering__course").get(pk=registration_id)
    checkout_error = _expire_checkout(registration)
    now = timezone.now()
    with transaction.atomic():
        _, registration = lock_seat(registration)
        if CancellationChoice.objects.filter(
            cancellation=cancellation, registration=registration
        ).exists():
            return None
        state = registration.state
        if state in (*INACTIVE_STATES, S.COMPLETED):
            return None
        choice = CancellationChoice(
            cancellation=cancellation, registration=registration, state_before=state
        )
        actor = _actor(cancellation)
        reason = f"Class cancelled: {cancellation.reason}"
        refund_now = False
        if state == S.CONFIRMED:
            if cancellation.refund_everyone:
                choice.choice, choice.chosen_at = Choice.REFUND, now
                refund_now = True
                variant = "refunding"
            else:
                variant = "choose"
        elif state == S.PROCESSING or checkout_error:
            choice.choice, choice.outcome = Choice.NONE, Outcome.FAILED
            choice.error = checkout_error or (
                "A payment is still processing: settle it, then refund or cancel by hand."
            )
            variant = ""
        else:
            registration_transition(
                registration_id=registration.pk,
                to_state=S.CANCELLED,
                actor=actor,
                reason=reason,
                hold_expires_at=None,
            )
            choice.choice, choice.outcome, choice.settled_at = Choice.NONE, Outcome.CANCELLED, now
            variant = "waitlist" if state == S.WAITLISTED else "ended"
        if variant:
            send_class_cancelled(registration, cancellation, variant)
            choice.notified_at = now
        else:
            registration_note(registration, actor=actor, reason=f"{reason} {choice.error}")
        choice.save()
    return choice.pk if refund_now else None


def paid_payments(registration_id: int) -> list[Payment]:
    """The registration's paid payments (tuition and transfer fees) with something left to
    refund."""
    return [
        p
        for p in Payment.objects.filter(registration_id=registration_id, status=Payment.Status.PAID)
        if p.refundable_cents > 0
    ]


def settle_refund(choice_id: int, *, chosen_by: Actor | None = None) -> CancellationChoice:
    """Refund a registrant of a cancelled class in full, once.

    In one transaction (the choice row locked first): unless the choice already has an outcome,
    every paid payment of the registration is given a pending ``Refund`` for what is left on it
    (``refunds.refund_request``, idempotency key per refund) and the choice becomes refund /
    refunded with ``refunded_cents``. Then every pending refund of those payments is issued
    (``refunds.refund_execute``: a refund already made is answered from Stripe's idempotency
    record, never made twice); when all succeeded the choice is settled and a registration left
    confirmed (nothing was paid) is cancelled. A refused refund marks the choice failed (staff
    see it on the progress page; the refund is flagged). A registration that moved to another
    class meanwhile (the manage page's own move) is recorded as transferred, not refunded.
    Only the choice row is locked here, before the payments (``refunds.refund_request``), so
    the lock order of ``registrations.locking`` is kept.

    Returns: the choice, re-read. Idempotent: a settled choice is returned as is.
    """
    now = timezone.now()
    with transaction.atomic():
        choice = (
            CancellationChoice.objects.select_for_update(of=("self",))
            .select_related("cancellation", "registration")
            .get(pk=choice_id)
        )
        moved = choice.registration.offering_id != choice.cancellation.offering_id
        if choice.outcome == Outcome.OPEN and moved:  # Moved meanwhile (from the manage page).
            choice.choice, choice.outcome = Choice.TRANSFER, Outcome.TRANSFERRED
            choice.chosen_at = choice.settled_at = now
            choice.save()
            return choice
        if choice.outcome == Outcome.OPEN:
            reason = f"Class cancelled: {choice.cancellation.reason}"[:500]
            total = 0
            for payment in paid_payments(choice.registration_id):
                refunds.refund_request(
                    payment=payment,
                    amount_cents=payment.refundable_cents,
                    reason=reason,
                    staff_user=choice.cancellation.created_by,
                    automatic=True,
                )
                total += payment.refundable_cents
            choice.choice = Choice.REFUND
            choice.outcome = Outcome.REFUNDED
            choice.refunded_cents = total
            choice.chosen_at = choice.chosen_at or now
            choice.save()
            registration_note(
                choice.registration,
                actor=chosen_by or Actor.system(),
                reason=f"Class cancelled: full refund of ${total / 100:,.2f} requested.",
            )
    if choice.outcome != Outcome.REFUNDED or choice.settled_at is not None:
        return choice
    return _issue_refunds(choice)


def _issue_refunds(choice: CancellationChoice) -> CancellationChoice:
    pending = Refund.objects.filter(
        payment__registration_id=choice.registration_id, status=Refund.Status.PENDING
    ).order_by("pk")
    try:
        for refund in pending:
            refunds.refund_execute(refund.pk)
    except PaymentProviderError as exc:
        CancellationChoice.objects.filter(pk=choice.pk).update(
            outcome=Outcome.FAILED,
            error=f"Refund refused: {exc.message}",
            updated_at=timezone.now(),
        )
        choice.refresh_from_db()
        return choice
    with transaction.atomic():
        registration = Registration.objects.get(pk=choice.registration_id)
        _, registration = lock_seat(registration)
        if registration.state == S.CONFIRMED:  # Nothing (more) was paid: end the place.
            registration_transition(
                registration_id=registration.pk,
                to_state=S.CANCELLED,
                actor=Actor.system(),
                reason="Class cancelled: place ended (nothing left to refund).",
            )
        CancellationChoice.objects.filter(pk=choice.pk, settled_at__isnull=True).update(
            settled_at=timezone.now(), updated_at=timezone.now()
        )
    choice.refresh_from_db()
    return choice


def choose_transfer(choice_id: int, target_id: int) -> CancellationChoice:
    """The registrant moves to another class of the course instead of a refund.

    Under the choice row's lock: refused unless the choice is still pending and open and before
    ``choice_deadline``; then ``transfers.transfer`` (as the attendee; the deadline, limit and
    fee are waived since the class is cancelled) and the choice becomes transferred and settled,
    in the same transaction.

    Returns: the choice, re-read (unchanged when it already had an outcome).
    Raises: ChoiceRefused (deadline passed); transfers.TransferRefused (the move is refused).
    """
    with transaction.atomic():
        choice = (
            CancellationChoice.objects.select_for_update(of=("self",))
            .select_related("cancellation")
            .get(pk=choice_id)
        )
        if choice.outcome != Outcome.OPEN:
            return choice
        now = timezone.now()
        if now >= choice.cancellation.choice_deadline:
            raise ChoiceRefused("The time to choose has passed; your payment is being refunded.")
        transfers.transfer(choice.registration_id, target_id, actor=Actor.attendee(), now=now)
        choice.choice, choice.outcome = Choice.TRANSFER, Outcome.TRANSFERRED
        choice.chosen_at = choice.settled_at = now
        choice.save()
    _finish_if_done(choice.cancellation)
    return choice


def choose_refund(choice_id: int) -> CancellationChoice:
    """The registrant asks for the full refund (``settle_refund``); refused after the deadline
    only in that the beat task has refunded them already (then the outcome is shown).

    Returns: the choice, re-read."""
    choice = settle_refund(choice_id, chosen_by=Actor.attendee())
    _finish_if_done(choice.cancellation)
    return choice


def _finish_if_done(cancellation: ClassCancellation) -> None:
    """Set ``notified_at`` / ``finished_at`` once every registrant is notified / settled."""
    progress = cancellation_progress(cancellation)
    now = timezone.now()
    if progress.remaining == 0 and progress.notified + progress.failed >= progress.total:
        ClassCancellation.objects.filter(pk=cancellation.pk, notified_at__isnull=True).update(
            notified_at=now
        )
    if progress.remaining == 0 and progress.settled >= progress.total:
        ClassCancellation.objects.filter(pk=cancellation.pk, finished_at__isnull=True).update(
            finished_at=now
        )


def cancellation_run(cancellation_id: int) -> int:
    """Handle every registrant of the cancellation not handled yet, ``BATCH_SIZE`` at a time,
    each once (``_handle``), then issue the refunds due (also those left requested by an
    interrupted run). Returns how many registrations got their choice row in this run."""
    cancellation = ClassCancellation.objects.select_related("offering", "created_by").get(
        pk=cancellation_id
    )
    handled = 0
    while True:
        done = CancellationChoice.objects.filter(cancellation=cancellation).values(
            "registration_id"
        )
        batch = list(
            _active(cancellation.offering)
            .exclude(pk__in=done)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not batch:
            break
        progressed = False
        for registration_id in batch:
            due = _handle(cancellation, registration_id)
            handled += 1
            progressed = True
            if due is not None:
                settle_refund(due)
        if not progressed:
            break
    # Refunds requested by an interrupted run, and refund-everyone choices not yet settled.
    unsettled = CancellationChoice.objects.filter(
        cancellation=cancellation,
        choice=Choice.REFUND,
        outcome__in=[Outcome.OPEN, Outcome.REFUNDED],
        settled_at__isnull=True,
    )
    for choice_id in unsettled.values_list("pk", flat=True):
        settle_refund(choice_id)
    _finish_if_done(cancellation)
    return handled


@shared_task(
    name="registrations.process_class_cancellation",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=TASK_MAX_RETRIES,
)
def process_class_cancellation(self: Task, cancellation_id: int) -> int:
    """Handle a cancelled class's registrants (``cancellation_run``); retried with backoff (2,
    4, … 32 s) on an error, each retry continuing where the last stopped. Returns how many were
    handled in this run."""
    try:
        return cancellation_run(cancellation_id)
    except ClassCancellation.DoesNotExist:
        return 0
    except Exception as exc:
        if self.request.retries >= TASK_MAX_RETRIES:
            logger.error("changes.class_cancellation_failed cancellation=%s", cancellation_id)
            raise
        raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc


def cancellations_refund_unchosen(now: datetime | None = None) -> int:
    """Beat: refund in full (``settle_refund``) every registrant still pending after their
    cancellation's ``choice_deadline``. Returns how many were refunded."""
    now = now or timezone.now()
    ids = list(
        CancellationChoice.objects.filter(
            choice=Choice.PENDING,
            outcome=Outcome.OPEN,
            cancellation__choice_deadline__lte=now,
        ).values_list("pk", flat=True)
    )
    for choice_id in ids:
        choice = settle_refund(choice_id)
        _finish_if_done(choice.cancellation)
    return len(ids)


@shared_task(name="registrations.refund_unchosen_cancellations", ignore_result=True)
def refund_unchosen_cancellations() -> int:
    """Beat, hourly: refund registrants of cancelled classes who did not choose in time
    (``cancellations_refund_unchosen``)."""
    return cancellations_refund_unchosen()


# --- Progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationProgress:
    """Counts of a cancellation's registrants: ``total`` (handled and still to handle),
    ``notified`` (emailed), ``settled`` (outcome final), ``waiting`` (for their choice),
    ``failed`` (need staff) and ``remaining`` (not handled yet)."""

    total: int
    notified: int
    settled: int
    waiting: int
    failed: int
    remaining: int


def cancellation_progress(cancellation: ClassCancellation) -> CancellationProgress:
    """The progress of ``cancellation`` from its choice rows and the registrations of the class
    not handled yet (see ``CancellationProgress``)."""
    counts = CancellationChoice.objects.filter(cancellation=cancellation).aggregate(
        total=Count("pk"),
        notified=Count("pk", filter=Q(notified_at__isnull=False)),
        settled=Count("pk", filter=Q(settled_at__isnull=False)),
        waiting=Count("pk", filter=Q(choice=Choice.PENDING, outcome=Outcome.OPEN)),
        failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
    )
    done = CancellationChoice.objects.filter(cancellation=cancellation).values("registration_id")
    remaining = _active(cancellation.offering).exclude(pk__in=done).count()
    return CancellationProgress(
        total=counts["total"] + remaining,
        notified=counts["notified"],
        settled=counts["settled"],
        waiting=counts["waiting"],
        failed=counts["failed"],
        remaining=remaining,
    )
