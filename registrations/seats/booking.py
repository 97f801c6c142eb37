"""Seats: holds, the waitlist and offers. The only module that takes or frees a seat.

The seat rule is in ``registrations.seats.queries``. Every change locks the offering row first
and then the registration (``registrations.locking``), so concurrent checkouts for the last
seats take exactly the free seats, in a short transaction; Stripe is called after it commits
(``registrations.payments.checkout``). A freed seat goes to the head of the waitlist as an
offer: a hold of ``WAITLIST_OFFER_HOURS`` (``docs/architecture.md``, "Seats").
"""

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from courses.models import Offering
from registrations.enums import CAN_HOLD_STATES
from registrations.enums import RegistrationState as S
from registrations.locking import lock_rows, lock_seat
from registrations.messaging import notices
from registrations.models import Registration
from registrations.transitions import Actor, registration_transition

from .queries import seats_taken, waitlist_position, why_not_hold


class OfferingFull(Exception):  # noqa: N818 — the domain's word
    """No free seat: the registrant may join the waitlist."""


class CannotHold(Exception):  # noqa: N818
    """The registration cannot take a seat now; ``message`` says why, for the attendee."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def hold_seat(registration: Registration, now: datetime | None = None) -> Registration:
    """Hold a seat for an eligible registrant for ``SEAT_HOLD_MINUTES`` (default 35).

    A registration already holding an unexpired seat keeps it (returned as is). Works from
    ``eligible`` and ``expired`` (trying again).

    Raises:
        OfferingFull: no free seat (the caller offers the waitlist).
        CannotHold: not eligible yet, registration closed, or in a state that cannot hold.
    """
    now = now or timezone.now()
    with transaction.atomic():
        offering, registration = lock_seat(registration)
        if registration.state == S.HELD and _hold_running(registration, now):
            return registration
        if registration.state not in CAN_HOLD_STATES:
            raise CannotHold(why_not_hold(registration))
        if offering.registration_state(now) != Offering.RegistrationState.OPEN:
            raise CannotHold("Registration for this class is closed.")
        if seats_taken(offering, now) >= offering.capacity:
            raise OfferingFull()
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.HELD,
            actor=Actor.attendee(),
            reason="Seat held for checkout.",
            hold_expires_at=now + timedelta(minutes=settings.SEAT_HOLD_MINUTES),
            hold_is_offer=False,
        )
    return result.registration


def _hold_running(registration: Registration, now: datetime) -> bool:
    return registration.hold_expires_at is not None and registration.hold_expires_at > now


def extend_hold(registration: Registration, until: datetime) -> Registration:
    """Extend a current hold to ``until`` (never shorten it). Used when a waitlist offer's
    checkout must last at least Stripe's 30-minute minimum. Takes the seat locks (offering,
    then registration) like every other seat change."""
    with transaction.atomic():
        _, registration = lock_seat(registration)
        if (
            registration.state == S.HELD
            and registration.hold_expires_at is not None
            and registration.hold_expires_at < until
        ):
            registration.hold_expires_at = until
            registration.save(update_fields=["hold_expires_at", "updated_at"])
    return registration


def join_waitlist(registration: Registration, now: datetime | None = None) -> Registration:
    """Put an eligible registrant at the back of a full offering's waitlist.

    Raises: CannotHold when a seat is free (check out instead) or the state does not allow it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        offering, registration = lock_seat(registration)
        if registration.state == S.WAITLISTED:
            return registration
        if registration.state not in CAN_HOLD_STATES:
            raise CannotHold(why_not_hold(registration))
        if seats_taken(offering, now) < offering.capacity:
            raise CannotHold("A seat is free: you can pay now instead of waiting.")
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.WAITLISTED,
            actor=Actor.attendee(),
            reason="Joined the waitlist.",
            waitlisted_at=now,
            hold_expires_at=None,
            hold_is_offer=False,
        )
        notices.send_waitlist_joined(result.registration, waitlist_position(result.registration))
    return result.registration


def leave_waitlist(registration: Registration) -> Registration:
    """Leave the waitlist (or decline an open offer): the registration is cancelled and any
    offered seat goes to the next person."""
    with transaction.atomic():
        _, registration = lock_seat(registration)
        if registration.state not in (S.WAITLISTED, S.HELD) or (
            registration.state == S.HELD and not registration.hold_is_offer
        ):
            return registration
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.CANCELLED,
            actor=Actor.attendee(),
            reason="Left the waitlist.",
            hold_expires_at=None,
        )
        if result.changed:
            notices.send_waitlist_left(result.registration, lapsed=False)
        offer_free_seats(registration.offering_id)
    return result.registration


def release_seat(
    registration_id: int, *, reason: str, to_state: str = S.EXPIRED, notify: bool = False
) -> bool:
    """End a hold or a processing payment (expired, failed); frees the seat and offers it on.

    A lapsed waitlist offer leaves the waitlist (``cancelled``) and is told so; with ``notify``,
    an ordinary hold that ran out is told it may try again. Returns True when a seat was
    released, False when the registration no longer held one (already paid, etc.).
    """
    with transaction.atomic():
        registration = Registration.objects.get(pk=registration_id)
        _, registration = lock_seat(registration)
        if registration.state not in (S.HELD, S.PROCESSING):
            return False
        lapsed_offer = registration.state == S.HELD and registration.hold_is_offer
        target = S.CANCELLED if lapsed_offer else to_state
        registration_transition(
            registration_id=registration.pk,
            to_state=target,
            actor=Actor.system(),
            reason="Waitlist offer lapsed; left the waitlist." if lapsed_offer else reason,
            hold_expires_at=None,
        )
        if lapsed_offer:
            notices.send_waitlist_left(registration, lapsed=True)
        elif notify:
            notices.send_hold_lapsed(registration)
        offer_free_seats(registration.offering_id)
    return True


def offer_free_seats(offering_id: int, now: datetime | None = None) -> int:
    """Offer each free seat to the next person on the waitlist (one offer per free seat).

    Must run inside the caller's transaction or opens its own; locks the offering. Returns the
    number of offers made.
    """
    now = now or timezone.now()
    with transaction.atomic():
        offering = lock_rows(offering_id=offering_id).offering
        assert offering is not None
        if offering.registration_state(now) != Offering.RegistrationState.OPEN:
            return 0
        free = offering.capacity - seats_taken(offering, now)
        if free <= 0:
            return 0
        heads = list(
            Registration.objects.select_for_update()
            .filter(offering=offering, state=S.WAITLISTED)
            .order_by("waitlisted_at", "pk")[:free]
        )
        until = now + timedelta(hours=settings.WAITLIST_OFFER_HOURS)
        for registration in heads:
            result = registration_transition(
                registration_id=registration.pk,
                to_state=S.HELD,
                actor=Actor.system(),
                reason="A seat became free: offered from the waitlist.",
                hold_expires_at=until,
                hold_is_offer=True,
            )
            notices.send_waitlist_offer(result.registration)
    return len(heads)


def release_expired_holds(now: datetime | None = None) -> int:
    """Periodic (beat): release every hold whose time is up. Returns how many were released.

    Holds past ``hold_expires_at`` already count as free on read; this records it, tells lapsed
    offer holders, and offers the seats on. The Checkout Session at Stripe expires at the same
    moment by itself (its ``expires_at`` is the hold's end).
    """
    now = now or timezone.now()
    ids = list(
        Registration.objects.filter(state=S.HELD, hold_expires_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    return sum(release_seat(pk, reason="Seat hold expired unpaid.", notify=True) for pk in ids)


@shared_task(name="registrations.release_expired_holds", ignore_result=True)
def release_expired_holds_task() -> int:
    """Beat, every minute: release seat holds whose time is up and offer the seats on."""
    return release_expired_holds()


def offer_seats_after_a_class_change(
    sender: type[Offering], instance: Offering, created: bool = False, raw: bool = False, **kwargs
) -> None:
    """``post_save`` of an offering: a class saved with more capacity (or opened again) may have
    free seats for its waitlist; they are offered after the save commits (``offer_free_seats``,
    which does nothing when no seat is free or nobody waits)."""
    if created or raw:
        return
    if not Registration.objects.filter(offering_id=instance.pk, state=S.WAITLISTED).exists():
        return
    transaction.on_commit(lambda: offer_free_seats(instance.pk))


post_save.connect(
    offer_seats_after_a_class_change,
    sender=Offering,
    dispatch_uid="registrations.seats.booking.offer_seats_after_a_class_change",
)
