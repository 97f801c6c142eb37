"""The training office's dashboard: what needs doing, in figures (the admin's index page,
``registrations.admin.dashboard``).

- **Upcoming classes**: every published class whose last session has not ended, soonest first,
  with seats taken (the seat rule, ``seats.queries.taken_filter``), unexpired holds, the
  waitlist's length, capacity and days until the first session (in the class's zone).
- **Below the minimum**: a class starting within ``CLASS_MINIMUM_NOTICE_DAYS`` days with fewer
  confirmed attendees than its ``minimum_attendees`` (unless confirmed to run), or, without one,
  fewer than ``CLASS_MINIMUM_SEATS`` seats taken; **nearly full**: ``CLASS_NEARLY_FULL_SEATS`` seats
  left or fewer (settings).
- **Go/no-go**: classes with a minimum, not confirmed to run, whose go/no-go date has come or is
  within ``GO_NO_GO_LOOKAHEAD_DAYS`` days (``changes.enrolment``): confirmed against the minimum.
- **Awaiting review**: the review queue (``eligibility.review_queue``), oldest first, with how
  long each has waited since it entered review.
- **Needing attention**: registrations flagged by ``payments.attention`` (late money, disputes,
  failed refunds), with the reason.
- **Failed emails**: outbox rows that failed for good (staff can send them again).

``dashboard(now)`` reads it all in a fixed number of queries, whatever the number of classes
or registrations (``tests/registrations/admin/test_dashboard.py`` counts them at 5 and 50).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict, cast

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from courses.models import Offering, Session
from registrations import eligibility
from registrations.enums import RegistrationState as S
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.seats.queries import taken_filter

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# Rows each list of the dashboard shows (the count and its link cover the rest).
LIST_LENGTH = 10
# A class's go/no-go prompt shows this many days before its go/no-go date.
GO_NO_GO_LOOKAHEAD_DAYS = 3


@dataclass(frozen=True)
class ClassFigures:
    """One upcoming class: ``seats_taken`` (the seat rule), ``holds`` (unexpired, unpaid),
    ``waitlist`` (its length), ``capacity``, ``first_start`` (aware, UTC), ``days_to_start``
    (whole days from today to the first session's date, both in the class's zone; 0 today or
    once it has begun), ``confirmed`` (confirmed registrations) and ``days_to_decision`` (days
    from today to the go/no-go date in the class's zone, negative once it has passed)."""

    offering: Offering
    seats_taken: int
    holds: int
    waitlist: int
    capacity: int
    first_start: datetime
    days_to_start: int
    confirmed: int = 0
    days_to_decision: int = 0

    @property
    def minimum(self) -> int | None:
        """The class's own minimum of confirmed attendees (None: none)."""
        return self.offering.minimum_attendees

    @property
    def seats_left(self) -> int:
        """Free seats (never below 0)."""
        return max(self.capacity - self.seats_taken, 0)


@dataclass(frozen=True)
class Waiting:
    """A registration awaiting review and how long it has waited (``since``: when it entered
    review)."""

    registration: Registration
    since: datetime
    waited: timedelta


@dataclass(frozen=True)
class Dashboard:
    """The figures of one dashboard (``dashboard``): each list holds at most ``LIST_LENGTH``
    rows, its ``*_count`` the total."""

    classes: list[ClassFigures]
    below_minimum: list[ClassFigures]
    go_no_go: list[ClassFigures]
    nearly_full: list[ClassFigures]
    awaiting_review: list[Waiting]
    awaiting_review_count: int
    attention: list[Registration]
    attention_count: int
    failed_emails: list[OutboundEmail]
    failed_email_count: int
    minimum_seats: int
    minimum_notice_days: int
    nearly_full_seats: int


class ClassCounts(TypedDict):
    """The annotations of ``upcoming_classes``."""

    first_start: datetime
    last_end: datetime
    seats_taken: int
    holds: int
    waitlist: int
    confirmed: int


def upcoming_classes(now: datetime) -> "QuerySet[WithAnnotations[Offering, ClassCounts]]":
    """Published classes whose last session ends after ``now``, soonest first, annotated with
    ``first_start``, ``seats_taken``, ``holds`` and ``waitlist`` (one query; the sessions and
    course are loaded with it, one more)."""
    sessions = Session.objects.filter(offering=OuterRef("pk"))
    reg = "registrations__"
    queryset = (
        Offering.objects.filter(status=Offering.Status.PUBLISHED)
        .annotate(
            first_start=Subquery(sessions.order_by("starts_at").values("starts_at")[:1]),
            last_end=Subquery(sessions.order_by("-ends_at").values("ends_at")[:1]),
        )
        .filter(last_end__gt=now)
        .annotate(
            seats_taken=Count("registrations", filter=taken_filter(now, reg), distinct=True),
            holds=Count(
                "registrations",
                filter=Q(**{f"{reg}state": S.HELD, f"{reg}hold_expires_at__gt": now}),
                distinct=True,
            ),
            waitlist=Count(
                "registrations", filter=Q(**{f"{reg}state": S.WAITLISTED}), distinct=True
            ),
            confirmed=Count(
                "registrations", filter=Q(**{f"{reg}state": S.CONFIRMED}), distinct=True
            ),
        )
        .select_related("course")
        .prefetch_related("sessions")
        .order_by("first_start", "pk")
    )
    return cast("QuerySet[WithAnnotations[Offering, ClassCounts]]", queryset)


def _days_to_start(first_start: datetime, offering: Offering, now: datetime) -> int:
    zone = offering.zone
    return max((first_start.astimezone(zone).date() - now.astimezone(zone).date()).days, 0)


def _below_minimum(figures: ClassFigures, default_seats: int) -> bool:
    """Below the class's own minimum of confirmed attendees (not once confirmed to run), or
    without one below ``default_seats`` seats taken."""
    offering = figures.offering
    if offering.minimum_attendees is None:
        return figures.seats_taken < default_seats
    return offering.run_confirmed_at is None and figures.confirmed < offering.minimum_attendees


def dashboard(now: datetime | None = None) -> Dashboard:
    """The dashboard's figures at ``now`` (aware; default the current time). Nine queries,
    whatever the number of classes and registrations."""
    now = now or timezone.now()
    minimum = settings.CLASS_MINIMUM_SEATS
    notice = settings.CLASS_MINIMUM_NOTICE_DAYS
    nearly = settings.CLASS_NEARLY_FULL_SEATS
    classes = [
        ClassFigures(
            offering=offering,
            seats_taken=offering.seats_taken,
            holds=offering.holds,
            waitlist=offering.waitlist,
            capacity=offering.capacity,
            first_start=offering.first_start,
            days_to_start=_days_to_start(offering.first_start, offering, now),
            confirmed=offering.confirmed,
            days_to_decision=(offering.go_no_go_date - now.astimezone(offering.zone).date()).days,
        )
        for offering in upcoming_classes(now)
    ]
    go_no_go = [
        c
        for c in classes
        if c.offering.awaits_go_no_go
        and c.days_to_decision <= GO_NO_GO_LOOKAHEAD_DAYS
        and c.first_start > now
    ]
    review = eligibility.review_queue()
    waiting = []
    for registration in review.select_related("offering__course").prefetch_related(
        "offering__sessions"
    )[:LIST_LENGTH]:
        since = getattr(registration, "waiting_since", None) or registration.created_at
        waiting.append(Waiting(registration, since, now - since))
    attention = Registration.objects.filter(needs_attention=True)
    failed = OutboundEmail.objects.filter(status=OutboundEmail.Status.FAILED)
    return Dashboard(
        classes=classes,
        below_minimum=[
            c for c in classes if c.days_to_start <= notice and _below_minimum(c, minimum)
        ],
        go_no_go=go_no_go,
        nearly_full=[c for c in classes if c.seats_left <= nearly],
        awaiting_review=waiting,
        awaiting_review_count=review.count(),
        attention=list(
            attention.select_related("offering__course")
            .prefetch_related("offering__sessions")
            .order_by("updated_at", "pk")[:LIST_LENGTH]
        ),
        attention_count=attention.count(),
        failed_emails=list(failed.order_by("-updated_at", "-pk")[:LIST_LENGTH]),
        failed_email_count=failed.count(),
        minimum_seats=minimum,
        minimum_notice_days=notice,
        nearly_full_seats=nearly,
    )
