"""Reads of the seat rule: seats taken, the waitlist position. No writes here.

Seats taken = confirmed + completed + processing + unexpired holds (waitlist offers are holds);
the states are grouped in ``registrations.enums``. The course catalogue counts seats with
``with_seats_taken``, registered into ``courses.catalogue`` when this module is imported (the
catalogue does not import registrations).
"""

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from courses import catalogue
from courses.models import Offering
from registrations.enums import SEAT_STATES
from registrations.enums import RegistrationState as S
from registrations.models import Registration


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


def seats_free(offering: Offering, now: datetime | None = None) -> int:
    """Seats of ``offering`` nobody occupies at ``now`` (never below 0)."""
    return max(offering.capacity - seats_taken(offering, now), 0)


def with_seats_taken(
    queryset: QuerySet[Offering], now: datetime | None = None
) -> QuerySet[Offering]:
    """Annotate offerings with ``seats_taken`` (int) in the same query, for listings."""
    now = now or timezone.now()
    return queryset.annotate(
        seats_taken=Count(
            "registrations", filter=taken_filter(now, "registrations__"), distinct=True
        )
    )


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


def why_not_hold(registration: Registration) -> str:
    """Why ``registration`` cannot take a seat now, in words for the attendee."""
    reasons: dict[str, str] = {
        S.PENDING_EMAIL: "Please confirm your work email first.",
        S.PENDING_REVIEW: "Your eligibility is still being reviewed.",
        S.WAITLISTED: "You are on the waitlist; we will email you when a seat is free.",
        S.CONFIRMED: "Your seat is already paid for.",
        S.PROCESSING: "Your payment is being processed.",
    }
    return reasons.get(registration.state, "This registration cannot take a seat.")


catalogue.register_annotation(with_seats_taken)
