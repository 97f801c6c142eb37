"""Read queries for the public catalogue, with a fixed number of SQL queries however many
offerings there are (sessions are prefetched, bounds are annotated).

Apps that know more about an offering (the registrations app counts seats taken) add their
annotations with ``register_annotation``; ``courses`` imports none of them.
"""

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict, cast

from django.db.models import Max, Min, Prefetch, QuerySet
from django.utils import timezone

from .models import Course, Offering, Session

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

PUBLIC_STATUSES = (Offering.Status.PUBLISHED, Offering.Status.CANCELLED)

Annotation = Callable[[QuerySet[Offering], datetime], QuerySet[Offering]]
ANNOTATIONS: list[Annotation] = []


class Bounds(TypedDict):
    """The annotations every ``public_offerings`` row has (for type checking its lookups)."""

    first_start: datetime
    last_end: datetime


def register_annotation(annotation: Annotation) -> Annotation:
    """Add ``annotation(queryset, now) -> queryset`` to every ``public_offerings`` query (once
    per function). Returns it, so it can be used as a decorator."""
    if annotation not in ANNOTATIONS:
        ANNOTATIONS.append(annotation)
    return annotation


def seats_taken(offering: Offering, now: datetime | None = None) -> int | None:
    """Seats taken in ``offering`` now, by the registered annotations (``seats_taken``); None
    when no app counts seats."""
    queryset: QuerySet[Offering] = Offering.objects.filter(pk=offering.pk)
    for annotation in ANNOTATIONS:
        queryset = annotation(queryset, now or timezone.now())
    row = queryset.values().first()
    taken = None if row is None else row.get("seats_taken")
    return taken if isinstance(taken, int) else None


def public_offerings(
    course: Course, now: datetime | None = None
) -> "QuerySet[WithAnnotations[Offering, Bounds]]":
    """Offerings visitors may see (published or cancelled, not drafts), each annotated with
    ``first_start`` and ``last_end`` (aware datetimes) and what registered annotations add
    (``seats_taken``, by the seat rule in ``registrations.seats.queries``), with sessions
    prefetched."""
    now = now or timezone.now()
    queryset: QuerySet[Offering] = (
        Offering.objects.filter(course=course, status__in=PUBLIC_STATUSES)
        .annotate(first_start=Min("sessions__starts_at"), last_end=Max("sessions__ends_at"))
        .prefetch_related(Prefetch("sessions", queryset=Session.objects.order_by("starts_at")))
        .select_related("course")
    )
    for annotation in ANNOTATIONS:
        queryset = annotation(queryset, now)
    # The registered annotations only add to the rows: first_start and last_end stay.
    return cast("QuerySet[WithAnnotations[Offering, Bounds]]", queryset)


def course_listing(course: Course, now: datetime | None = None) -> dict[str, list[Offering]]:
    """Return ``{"upcoming": [...], "past": [...]}`` for the course page.

    Upcoming: not yet ended at ``now``, soonest first. Past: ended, most recent first.
    Two queries for offerings plus two for their sessions, whatever their number.
    """
    now = now or timezone.now()
    offerings = public_offerings(course, now)
    return {
        "upcoming": list(offerings.filter(last_end__gt=now).order_by("first_start")),
        "past": list(
            offerings.filter(last_end__lte=now, status=Offering.Status.PUBLISHED).order_by(
                "-first_start"
            )
        ),
    }


def next_open_by_part(upcoming: list[Offering], now: datetime) -> dict[str, Offering]:
    """The first class of each part of day (``Offering.PartOfDay``: "day", "evening") among
    ``upcoming`` (soonest first, as ``course_listing`` gives them) that is open for registration
    at ``now`` and has a free seat; a part of day with none is absent. A class whose seats were
    not counted (no ``seats_taken`` annotation) counts as having a free seat."""
    found: dict[str, Offering] = {}
    for offering in upcoming:
        if offering.part_of_day in found:
            continue
        if offering.registration_state(now) != Offering.RegistrationState.OPEN:
            continue
        if offering.seats_left == 0:
            continue
        found[offering.part_of_day] = offering
    return found
