"""factory-boy factories; offerings go through ``courses.scheduling`` so they obey its rules."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from courses.models import Course, Offering
from courses.scheduling import SessionTimes, offering_create
from registrations.models import Registration
from registrations.transitions import USUAL_PATHS, Actor, registration_transition

DENVER = ZoneInfo("America/Denver")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course
        django_get_or_create = ("slug",)

    title = factory.Sequence(lambda n: f"Course {n}")
    slug = factory.Sequence(lambda n: f"course-{n}")
    summary = "A course."
    eligibility_statement = "Emergency call center staff only."
    participation_requirements = "Camera and microphone on."


def next_date(month: int, day: int, *, after: date | None = None) -> date:
    """The first ``month``/``day`` at least 30 days after ``after`` (default: today).

    For live-server browser tests, which run on the real clock: a class "next January" stays in
    standard time and a class "next July" in daylight time whatever year the tests run in.
    """
    earliest = (after or date.today()) + timedelta(days=30)
    candidate = date(earliest.year, month, day)
    return candidate if candidate >= earliest else date(earliest.year + 1, month, day)


def two_day_times(first_day: date, start: time = time(9), hours: int = 4) -> list[SessionTimes]:
    """Two sessions at ``start`` (America/Denver wall clock) on ``first_day`` and the next day."""
    return [
        SessionTimes(
            datetime.combine(day, start, tzinfo=DENVER),
            datetime.combine(day, start, tzinfo=DENVER) + timedelta(hours=hours),
        )
        for day in (first_day, first_day + timedelta(days=1))
    ]


def make_offering(
    course: Course,
    first_day: date,
    *,
    evening: bool = False,
    status: str = Offering.Status.PUBLISHED,
    capacity: int | None = None,
    registration_opens_at: datetime | None = None,
) -> Offering:
    """Create a two-session offering through the scheduling service."""
    return offering_create(
        course=course,
        part_of_day=Offering.PartOfDay.EVENING if evening else Offering.PartOfDay.DAY,
        times=two_day_times(first_day, time(16) if evening else time(9)),
        status=status,
        capacity=capacity,
        registration_opens_at=registration_opens_at,
    )


class RegistrationFactory(factory.django.DjangoModelFactory):
    """A registration in ``pending_email`` (the state the public form creates)."""

    class Meta:
        model = Registration

    offering = None  # required: pass one
    first_name = factory.Sequence(lambda n: f"Ana{n}")
    last_name = "Call-Taker"
    email = factory.Sequence(lambda n: f"attendee{n}@example.org")
    role = Registration.Role.CALL_TAKER
    employer_name = "Denver 911"
    employer_city = "Denver"
    employer_state = "CO"
    work_email = factory.Sequence(lambda n: f"attendee{n}@denver911.gov")
    supervisor_name = "Sam Supervisor"
    supervisor_email = "sam@denver911.gov"
    attested_at = factory.LazyFunction(timezone.now)
    participation_acknowledged_at = factory.LazyFunction(timezone.now)
    terms_accepted_at = factory.LazyFunction(timezone.now)
    time_zone = "America/Denver"


# The legal path to each state, from pending_email (registrations.transitions.TRANSITIONS).


def registration_in(state: str, offering: Offering, **fields: object) -> Registration:
    """Create a registration and move it to ``state`` through ``registration_transition`` along a
    legal path (actor: system), as the eligibility and payment code would."""
    registration = RegistrationFactory(offering=offering, **fields)
    for step in USUAL_PATHS[state]:
        registration = registration_transition(
            registration_id=registration.pk, to_state=step, actor=Actor.system()
        ).registration
    return Registration.objects.select_related("offering__course").get(pk=registration.pk)
