"""Read queries for the public catalogue, with a fixed number of SQL queries however many
offerings there are (sessions are prefetched, bounds are annotated)."""

from datetime import datetime

from django.db.models import Max, Min, Prefetch, QuerySet
from django.utils import timezone

from .models import Course, Offering, Session

PUBLIC_STATUSES = (Offering.Status.PUBLISHED, Offering.Status.CANCELLED)


def public_offerings(course: Course, now: datetime | None = None) -> QuerySet[Offering]:
    """Offerings visitors may see (published or cancelled, not drafts), each annotated with
    ``first_start`` and ``last_end`` (aware datetimes) and ``seats_taken`` (int, counted by the
    seat rule in ``registrations.booking``), with sessions prefetched."""
    from registrations.booking import with_seats_taken

    queryset = (
        Offering.objects.filter(course=course, status__in=PUBLIC_STATUSES)
        .annotate(first_start=Min("sessions__starts_at"), last_end=Max("sessions__ends_at"))
        .prefetch_related(Prefetch("sessions", queryset=Session.objects.order_by("starts_at")))
        .select_related("course")
    )
    return with_seats_taken(queryset, now)


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
