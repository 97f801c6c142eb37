"""Course → Offering → Session.

Single-row rules live here as database constraints (they hold on SQLite and PostgreSQL); rules that
span rows (an offering's sessions: count, length, consecutive days, no overlap) live in
``courses.scheduling``, which every write path (import, admin) goes through.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .reminder_schedule import (
    DEFAULT_REMINDER_SCHEDULE,
    ReminderOffset,
    parse_reminder_schedule,
    validate_reminder_schedule,
)
from .text import web_link
from .timefmt import date_range_label, session_label

DEFAULT_TIME_ZONE = "America/Denver"


def validate_time_zone(value: str) -> None:
    """Accept an IANA zone name from the zone database, e.g. "America/Denver"."""
    if value not in available_timezones():
        raise ValidationError(
            f"{value!r} is not a time zone name such as America/Denver or America/New_York."
        )


class CourseManager(models.Manager["Course"]):
    def get_by_natural_key(self, slug: str) -> "Course":
        return self.get(slug=slug)


class Course(models.Model):
    """A catalogue entry, e.g. "CIT Support Training for 911".

    Money is in integer cents (``tuition_cents``); the session shape (``sessions_per_offering`` ×
    ``session_minutes``) is what ``courses.scheduling`` enforces for every offering of the course.
    """

    DEFAULT_SLUG = "cit-support-training-911"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    summary = models.TextField(
        help_text="One or two sentences shown at the top of the course page."
    )
    description = models.TextField(blank=True)
    topics = models.TextField(blank=True, help_text="One topic per line.")
    learning_outcomes = models.TextField(blank=True, help_text="One outcome per line.")
    eligibility_statement = models.TextField(
        help_text="Who may attend, e.g. current employment by an emergency call center."
    )
    participation_requirements = models.TextField(
        help_text="What attendees need to take part, e.g. a working camera and microphone."
    )
    contact_hours = models.PositiveSmallIntegerField(default=8)
    tuition_cents = models.PositiveIntegerField(default=25000, help_text="Per attendee, in cents.")
    currency = models.CharField(max_length=3, default="usd")
    default_capacity = models.PositiveIntegerField(default=24)
    sessions_per_offering = models.PositiveSmallIntegerField(default=2)
    session_minutes = models.PositiveSmallIntegerField(default=240)
    registration_lead_hours = models.PositiveIntegerField(
        default=24, help_text="Registration closes this many hours before the first session."
    )
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone]
    )
    contact_email = models.EmailField(blank=True, help_text="Questions about the course go here.")
    reminder_schedule = models.TextField(
        default=DEFAULT_REMINDER_SCHEDULE,
        blank=True,
        validators=[validate_reminder_schedule],
        help_text='One reminder per line, e.g. "7 days before the first session" or "1 hour '
        'before each session" (minutes, hours, days or weeks). Only confirmed attendees get '
        "reminders. Leave empty for none.",
    )
    attendance_minimum_percent = models.PositiveSmallIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="A session counts as attended from this share of its length (APCO: 90 %).",
    )
    minutes_per_credit = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="Minutes of instruction per continuing-education credit on the certificate "
        "(usually 50 or 60). CEUs are always contact hours / 10.",
    )
    transfer_deadline_days = models.PositiveSmallIntegerField(
        default=7,
        help_text="An attendee may move to another class of this course until this many days "
        "before the first session of their current class (staff may always).",
    )
    transfer_limit = models.PositiveSmallIntegerField(
        default=1,
        help_text="Moves to another class an attendee may make per registration (staff may "
        "move them more often).",
    )
    transfer_fee_cents = models.PositiveIntegerField(
        default=0,
        help_text="Fee for an attendee's move to another class, in cents (0: none). Staff "
        "moves are free.",
    )
    go_no_go_days = models.PositiveSmallIntegerField(
        default=21,
        help_text="Days before the first session on which staff decide whether a class with a "
        "minimum enrolment runs (its go/no-go date, unless the class sets its own).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    objects = CourseManager()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_capacity__gt=0), name="course_capacity_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(sessions_per_offering__gt=0) & Q(session_minutes__gt=0),
                name="course_session_shape_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("courses:course-detail", kwargs={"slug": self.slug})

    def natural_key(self) -> tuple[str]:
        return (self.slug,)

    @property
    def topic_list(self) -> list[str]:
        return [line.strip() for line in self.topics.splitlines() if line.strip()]

    @property
    def outcome_list(self) -> list[str]:
        return [line.strip() for line in self.learning_outcomes.splitlines() if line.strip()]

    @property
    def registration_lead(self) -> timedelta:
        return timedelta(hours=self.registration_lead_hours)

    @property
    def reminder_offsets(self) -> list[ReminderOffset]:
        """The parsed ``reminder_schedule`` (``courses.reminder_schedule``)."""
        return parse_reminder_schedule(self.reminder_schedule)


# Stripe's smallest charge in US dollars: 50 cents
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). citreg has no free path.
MIN_TUITION_CENTS = 50

# Staff with this permission see every class; the others (instructors) only those they teach.
ALL_CLASSES = "courses.add_offering"


class Offering(models.Model):
    """One dated class of a course, e.g. "June 6–7, 2024, evening".

    Identified by (course, ``starts_on``, ``part_of_day``); ``starts_on`` is the first session's
    date in the offering's time zone, kept in step with the sessions by ``courses.scheduling``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        CANCELLED = "cancelled", "Cancelled"

    class PartOfDay(models.TextChoices):
        DAY = "day", "Day class"
        EVENING = "evening", "Evening class"

    class RegistrationState(models.TextChoices):
        """What a visitor can do now; derived, never stored."""

        NOT_YET_OPEN = "not_yet_open", "Registration opens soon"
        OPEN = "open", "Open for registration"
        CLOSED = "closed", "Registration closed"
        CANCELLED = "cancelled", "Cancelled"
        PAST = "past", "Past class"
        DRAFT = "draft", "Draft"

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="offerings")
    starts_on = models.DateField(help_text="Date of the first session, in the offering's zone.")
    part_of_day = models.CharField(max_length=10, choices=PartOfDay.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    capacity = models.PositiveIntegerField(help_text="Seats.")
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone]
    )
    registration_opens_at = models.DateTimeField()
    registration_closes_at = models.DateTimeField()
    meeting_url = models.URLField(
        blank=True, help_text="Video meeting link; shown only to confirmed attendees."
    )
    notes = models.TextField(
        blank=True,
        max_length=2000,
        help_text="Notes for attendees of this class (e.g. a guest instructor, a changed "
        "break); shown on the class page and in the confirmation and reminder emails.",
    )
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="taught_offerings",
        help_text="Staff in the Instructor group who teach this class: they see only the classes "
        "they are assigned to, and are named on its certificates.",
    )
    minimum_attendees = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Confirmed attendees the class needs to run; blank: no minimum.",
    )
    go_no_go_on = models.DateField(
        "go/no-go date",
        null=True,
        blank=True,
        help_text="The day staff confirm or cancel a class with a minimum (in the class's "
        "zone); blank: the course's go/no-go days before the first session.",
    )
    run_confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When staff confirmed that the class runs (its minimum no longer matters).",
    )
    run_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    go_no_go_prompted_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When staff were asked to confirm or cancel the class (once).",
    )
    schedule_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised on every change of session times or meeting link; the calendar "
        "SEQUENCE and part of reminder keys.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["starts_on", "part_of_day"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gt=0), name="offering_capacity_gt_0"),
            models.CheckConstraint(
                condition=Q(registration_closes_at__gt=models.F("registration_opens_at")),
                name="offering_registration_window_ordered",
            ),
            models.UniqueConstraint(
                fields=["course", "starts_on", "part_of_day"], name="offering_unique_per_day_part"
            ),
        ]
        indexes = [models.Index(fields=["status", "starts_on"])]

    def __str__(self) -> str:
        return f"{self.course.title}: {self.date_label}, {self.get_part_of_day_display().lower()}"

    def get_absolute_url(self) -> str:
        return reverse("courses:offering-detail", kwargs={"slug": self.course.slug, "pk": self.pk})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def session_list(self) -> list["Session"]:
        """Sessions in start order; uses a ``prefetch_related("sessions")`` cache when present."""
        return sorted(self.sessions.all(), key=lambda s: s.starts_at)

    @property
    def date_label(self) -> str:
        """Both dates as published, e.g. "June 6–7, 2024" or "September 30 – October 1, 2027"."""
        sessions = self.session_list
        if not sessions:
            return self.starts_on.strftime("%B %-d, %Y")
        first = sessions[0].starts_at.astimezone(self.zone).date()
        last = sessions[-1].starts_at.astimezone(self.zone).date()
        return date_range_label(first, last)

    @property
    def join_url(self) -> str:
        """The meeting link to put in front of a confirmed attendee: ``meeting_url`` when it is
        a web link, else "" (rows stored before validation, imports: ``courses.text.web_link``).
        Every renderer of the link uses this, never ``meeting_url``."""
        return web_link(self.meeting_url)

    @property
    def go_no_go_date(self) -> date:
        """The day staff decide whether the class runs, in the class's zone: ``go_no_go_on``
        when set, else the course's ``go_no_go_days`` before the first session's date
        (``starts_on``). Matters only for a class with ``minimum_attendees``."""
        if self.go_no_go_on is not None:
            return self.go_no_go_on
        return self.starts_on - timedelta(days=self.course.go_no_go_days)

    @property
    def awaits_go_no_go(self) -> bool:
        """True for a class with a minimum that staff have not confirmed to run and that is
        not cancelled (its attendees are told it may not run)."""
        return (
            self.minimum_attendees is not None
            and self.run_confirmed_at is None
            and self.status != self.Status.CANCELLED
        )

    def clean(self) -> None:
        """A go/no-go date falls before the first session (both dates in the class's zone).

        Raises: ValidationError on ``go_no_go_on``."""
        super().clean()
        if self.go_no_go_on is not None and self.starts_on and self.go_no_go_on >= self.starts_on:
            raise ValidationError(
                {
                    "go_no_go_on": "The go/no-go date must fall before the first session "
                    f"({self.starts_on:%B %-d, %Y})."
                }
            )

    @property
    def seats_left(self) -> int | None:
        """Free seats, when the query annotated ``seats_taken`` (``courses.catalogue``)."""
        taken = getattr(self, "seats_taken", None)
        return None if taken is None else max(self.capacity - taken, 0)

    def ends_at(self) -> datetime | None:
        sessions = self.session_list
        return sessions[-1].ends_at if sessions else None

    def registration_state(self, now: datetime | None = None) -> "Offering.RegistrationState":
        """Where registration stands at ``now`` (aware; default: the current time)."""
        now = now or timezone.now()
        state = self.RegistrationState
        if self.status == self.Status.CANCELLED:
            return state.CANCELLED
        if self.status == self.Status.DRAFT:
            return state.DRAFT
        ends_at = self.ends_at()
        if ends_at is not None and ends_at <= now:
            return state.PAST
        if now < self.registration_opens_at:
            return state.NOT_YET_OPEN
        if now >= self.registration_closes_at:
            return state.CLOSED
        return state.OPEN


class Session(models.Model):
    """One meeting of an offering (four hours for this course). Stored in UTC, shown in the
    offering's zone and the viewer's."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="sessions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return session_label(self.starts_at, self.ends_at, self.offering.zone)

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at
