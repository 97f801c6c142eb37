"""Seats: holds, the waitlist and offers. The only module that takes or frees a seat.

Seats taken = confirmed + completed + processing + unexpired holds (waitlist offers are holds).
Every change locks the offering row (``select_for_update``) first, so concurrent checkouts for the
last seats take exactly the free seats, in a short transaction; Stripe is called after it commits
(``registrations.checkout``). A freed seat goes to the head of the waitlist as an offer: a hold of
``WAITLIST_OFFER_HOURS`` (DESIGN.md, "Seats").
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from courses.models import Offering

from . import notices
from .models import Registration
from .transitions import Actor, registration_transition

S = Registration.State
SEAT_STATES = (S.CONFIRMED, S.COMPLETED, S.PROCESSING)


class OfferingFull(Exception):  # noqa: N818 — the domain's word
    """No free seat: the registrant may join the waitlist."""


class CannotHold(Exception):  # noqa: N818
    """The registration cannot take a seat now; ``message`` says why, for the attendee."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def taken_filter(now: datetime, prefix: str = "") -> Q:
    """A ``Q`` selecting registrations that occupy a seat at ``now`` (``prefix`` for joins,
    e.g. ``"registrations__"``)."""
    return Q(**{f"{prefix}state__in": SEAT_STATES}) | Q(
        **{f"{prefix}state": S.HELD, f"{prefix}hold_expires_at__gt": now}
    )


def seats_taken(offering: Offering, now: datetime | None = None) -> int:
    """How many seats of ``offering`` are taken at ``now`` (one query)."""
    now = now or timezone.now()
    return Registration.objects.filter(taken_filter(now), offering=offering).count()


def with_seats_taken(queryset, now: datetime | None = None):
    """Annotate offerings with ``seats_taken`` (int) in the same query, for listings."""
    now = now or timezone.now()
    return queryset.annotate(
        seats_taken=Count(
            "registrations", filter=taken_filter(now, "registrations__"), distinct=True
        )
    )


def lock_offering(offering_id: int) -> Offering:
    """Lock an offering's row (inside a transaction) and return it.

    Lock order, for every writer that touches seats or money: the offering, then the payment,
    then the registration. Following it everywhere is what keeps PostgreSQL from deadlocking
    when a cancellation, a webhook and the hold sweeper meet on the same class.
    """
    return Offering.objects.select_for_update().get(pk=offering_id)


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
        offering = lock_offering(registration.offering_id)
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.state == S.HELD and registration.hold_expires_at > now:
            return registration
        if registration.state not in (S.ELIGIBLE, S.EXPIRED):
            raise CannotHold(_why_not(registration))
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


def _why_not(registration: Registration) -> str:
    return {
        S.PENDING_EMAIL: "Please confirm your work email first.",
        S.PENDING_REVIEW: "Your eligibility is still being reviewed.",
        S.WAITLISTED: "You are on the waitlist; we will email you when a seat is free.",
        S.CONFIRMED: "Your seat is already paid for.",
        S.PROCESSING: "Your payment is being processed.",
    }.get(registration.state, "This registration cannot take a seat.")


def extend_hold(registration: Registration, until: datetime) -> Registration:
    """Extend a current hold to ``until`` (never shorten it). Used when a waitlist offer's
    checkout must last at least Stripe's 30-minute minimum."""
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.state == S.HELD and registration.hold_expires_at < until:
            registration.hold_expires_at = until
            registration.save(update_fields=["hold_expires_at", "updated_at"])
    return registration


def join_waitlist(registration: Registration, now: datetime | None = None) -> Registration:
    """Put an eligible registrant at the back of a full offering's waitlist.

    Raises: CannotHold when a seat is free (check out instead) or the state does not allow it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        offering = lock_offering(registration.offering_id)
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.state == S.WAITLISTED:
            return registration
        if registration.state not in (S.ELIGIBLE, S.EXPIRED):
            raise CannotHold(_why_not(registration))
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
        lock_offering(registration.offering_id)
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
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


def waitlist_position(registration: Registration) -> int | None:
    """1-based place in the offering's waitlist, or None when not waitlisted."""
    if registration.state != S.WAITLISTED or registration.waitlisted_at is None:
        return None
    ahead = Registration.objects.filter(
        offering_id=registration.offering_id,
        state=S.WAITLISTED,
        waitlisted_at__lt=registration.waitlisted_at,
    ).count()
    return ahead + 1


def release_seat(
    registration_id: int, *, reason: str, to_state: str = S.EXPIRED, notify: bool = False
) -> bool:
    """End a hold or a processing payment (expired, failed); frees the seat and offers it on.

    A lapsed waitlist offer leaves the waitlist (``cancelled``) and is told so; with ``notify``,
    an ordinary hold that ran out is told it may try again. Returns True when a seat was
    released, False when the registration no longer held one (already paid, etc.).
    """
    with transaction.atomic():
        registration = Registration.objects.select_related("offering").get(pk=registration_id)
        lock_offering(registration.offering_id)
        registration = Registration.objects.select_for_update().get(pk=registration_id)
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
        offering = lock_offering(offering_id)
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
