"""Moving a confirmed registration to another class of the same course (a transfer).

Staff may always move a confirmed registration; the attendee may from the manage page until the
course's ``transfer_deadline_days`` before the first session of their current class and at most
``transfer_limit`` times per registration (every move counts, whoever made it). The same
registration moves with its payment; its seat in the target is taken under the offering locks
(both classes, lowest primary key first, then the registration: ``locking.lock_move``), so two
moves into one free seat never both succeed. In the same transaction the move is recorded
(``Transfer`` and a history note), the freed seat is offered to the old class's waitlist
(``seats.booking.offer_free_seats``) and one email is queued (sent after commit) with an iTIP
CANCEL of the old sessions' UIDs and a REQUEST of the new ones (``docs/architecture.md``,
"Flows", "Transfers").

A course with a ``transfer_fee_cents`` above 0 does not let the attendee move themselves yet:
they are asked to write to the training office, and staff moves are free.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from courses.models import Offering
from courses.templatetags.schedule import dollars
from registrations.enums import ActorKind
from registrations.enums import RegistrationState as S
from registrations.locking import RegistrationMoved, lock_move
from registrations.messaging import notices
from registrations.messaging.outbox import email_queue, register_kind
from registrations.models import Registration
from registrations.seats import booking, queries
from registrations.transitions import Actor, registration_note

from .models import Transfer

TRANSFERRED = register_kind(
    "transferred",
    "Moved to another class (calendar cancellation and invitation)",
    still_wanted=notices.confirmed_only,
    refresh_context=notices.with_links,
)


class TransferRefused(Exception):  # noqa: N818 -- the domain's word
    """The move is not allowed now; ``message`` says why, in words for the person asking."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def first_start(offering: Offering) -> datetime | None:
    """The start of the offering's first session (aware), or None without sessions."""
    sessions = offering.session_list
    return sessions[0].starts_at if sessions else None


def transfer_deadline(registration: Registration) -> datetime | None:
    """The last moment the attendee may move themselves: ``course.transfer_deadline_days``
    days before the first session of their current class (aware; None without sessions)."""
    start = first_start(registration.offering)
    if start is None:
        return None
    return start - timedelta(days=registration.offering.course.transfer_deadline_days)


def transfers_made(registration: Registration) -> int:
    """How many times this registration has moved to another class (by anyone)."""
    return Transfer.objects.filter(registration=registration).count()


def transfers_left(registration: Registration) -> int:
    """Moves the attendee may still make themselves: the course's ``transfer_limit`` less the
    moves already made (never below 0)."""
    return max(registration.offering.course.transfer_limit - transfers_made(registration), 0)


def rules_waived(registration: Registration) -> bool:
    """True when the deadline, the limit and the fee do not apply to the attendee: their class
    was cancelled, so a move is offered instead of (or before) a full refund."""
    return registration.offering.status == Offering.Status.CANCELLED


def registration_refusal(registration: Registration, *, by_staff: bool, now: datetime) -> str:
    """Why this registration cannot move to any class now, in words ("" when it may): not
    confirmed; for the attendee also a transfer fee, the deadline passed or the limit used, unless
    their class was cancelled (``rules_waived``)."""
    if registration.state != S.CONFIRMED:
        return "Only a confirmed place can move to another class."
    if by_staff or rules_waived(registration):
        return ""
    course = registration.offering.course
    contact = course.contact_email or settings.TRAINING_ADMIN_EMAIL
    if course.transfer_fee_cents > 0:
        return (
            f"Moving to another class of this course has a fee of "
            f"{dollars(course.transfer_fee_cents)}. Please write to {contact} and we will move "
            "you."
        )
    deadline = transfer_deadline(registration)
    if deadline is not None and now >= deadline:
        days = course.transfer_deadline_days
        return (
            f"Changes to another class close {days} day{'s' if days != 1 else ''} before the "
            f"first session. Please write to {contact} if you cannot attend."
        )
    if transfers_left(registration) <= 0:
        return (
            "This registration has already moved to another class as often as this course "
            f"allows. Please write to {contact} if you cannot attend."
        )
    return ""


def _target_refusal(registration: Registration, target: Offering, *, now: datetime) -> str:
    """Why ``target`` cannot take this registration now ("" when it can)."""
    if target.pk == registration.offering_id:
        return "This is already your class."
    if target.course_id != registration.offering.course_id:
        return "A registration can only move to another class of the same course."
    if target.registration_state(now) != Offering.RegistrationState.OPEN:
        return "That class is not open for registration."
    if queries.seats_free(target, now) <= 0:
        return "That class has no free seat."
    return ""


def transfer_refusal(
    registration: Registration, target: Offering, *, by_staff: bool, now: datetime | None = None
) -> str:
    """Why ``registration`` may not move to ``target`` now, in words; "" when it may.

    Rules: the registration is confirmed; the target is another class of the same course, open
    for registration, with a free seat (``seats.queries``). For the attendee also: before
    ``transfer_deadline`` and within ``transfer_limit``, and no transfer fee (staff may override
    the deadline and the limit, and are not charged).

    Args: ``now`` aware (default: the current time). Reads without locking: ``transfer``
    checks again under the locks.
    """
    now = now or timezone.now()
    return registration_refusal(registration, by_staff=by_staff, now=now) or _target_refusal(
        registration, target, now=now
    )


@dataclass(frozen=True)
class TransferOption:
    """A class the registration may move to, with its free seats now."""

    offering: Offering
    seats_left: int


def transfer_options(
    registration: Registration, *, by_staff: bool, now: datetime | None = None
) -> list[TransferOption]:
    """The classes ``registration`` may move to now, soonest first: the other offerings of its
    course that are open for registration and have a free seat, each with its sessions
    prefetched and its free seats. Empty when the registration itself may not move
    (``transfer_refusal`` rules for the attendee or for staff)."""
    now = now or timezone.now()
    if registration_refusal(registration, by_staff=by_staff, now=now):
        return []
    candidates = queries.with_seats_taken(
        Offering.objects.filter(
            course_id=registration.offering.course_id, status=Offering.Status.PUBLISHED
        )
        .exclude(pk=registration.offering_id)
        .select_related("course")
        .prefetch_related("sessions"),
        now,
    )
    options = [
        TransferOption(offering, offering.seats_left or 0)
        for offering in candidates
        if offering.registration_state(now) == Offering.RegistrationState.OPEN
        and (offering.seats_left or 0) > 0
    ]
    return sorted(options, key=lambda o: (first_start(o.offering) or now, o.offering.pk))


def send_transferred(registration: Registration, *, previous: Offering, key: str) -> None:
    """Queue the one email of a move: the new class's sessions and what the attendee needs to
    attend, the previous class's sessions, the manage link, an iTIP ``METHOD:CANCEL`` of the
    previous sessions (their UIDs, as in the original invitation) and a ``METHOD:REQUEST`` of
    the new ones. ``key`` makes it once per move (``transferred:<transfer id>``)."""
    previous_times = [(s.starts_at, s.ends_at) for s in previous.session_list]
    email_queue(
        kind=TRANSFERRED,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/transferred",
        context={
            **notices.attendee_context(registration),
            "previous_offering_label": f"{previous.date_label}, "
            f"{previous.get_part_of_day_display().lower()}",
            "previous_sessions": notices.previous_session_lines(registration, previous_times),
        },
        attachments=[
            notices.invitation_attachment(registration, "CANCEL", previous),
            notices.invitation_attachment(registration, "REQUEST"),
        ],
        dedupe_key=key,
        registration=registration,
    )


def transfer(
    registration_id: int, target_id: int, *, actor: Actor, now: datetime | None = None
) -> Registration:
    """Move a confirmed registration to another class of its course, keeping its payment.

    Under ``locking.lock_move`` (both offerings, lowest pk first, then the registration) the
    rules of ``transfer_refusal`` are checked again (the attendee's when ``actor`` is not
    staff), the registration's ``offering`` becomes the target, a ``Transfer`` row and a history
    note record it, the old class's waitlist is offered the freed seat and the email is queued
    (sent after commit). Reminders follow, since they are selected by the registration's
    current class.

    Returns: the registration, re-read, in its new class.

    Raises:
        TransferRefused: the move is not allowed (``message`` in words), also when the
            registration changed class meanwhile.
        Registration.DoesNotExist / Offering.DoesNotExist: for an unknown id.
    """
    now = now or timezone.now()
    by_staff = actor.kind == ActorKind.STAFF
    with transaction.atomic():
        try:
            previous, target, registration = lock_move(registration_id, target_id)
        except RegistrationMoved as exc:
            raise TransferRefused(
                "This registration changed meanwhile. Please look again and retry."
            ) from exc
        refusal = transfer_refusal(registration, target, by_staff=by_staff, now=now)
        if refusal:
            raise TransferRefused(refusal)
        waived = rules_waived(registration)
        registration.offering = target
        registration.save(update_fields=["offering", "updated_at"])
        record = Transfer.objects.create(
            rules_waived=waived,
            registration=registration,
            from_offering=previous,
            to_offering=target,
            actor=actor.kind,
            staff_user=actor.user,
            fee_cents=0,
        )
        registration_note(
            registration,
            actor=actor,
            reason=f"Moved from the class of {previous.date_label} ({previous.pk}) to the "
            f"class of {target.date_label} ({target.pk}).",
        )
        booking.offer_free_seats(previous.pk, now)
        fresh = Registration.objects.select_related("offering__course").get(pk=registration.pk)
        send_transferred(fresh, previous=previous, key=f"transferred:{record.pk}")
    return fresh
