"""Model constraints and the cross-row rules of ``courses.scheduling``."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from courses import scheduling
from courses.models import Course, Offering, Session
from courses.scheduling import SessionTimes, offering_create, offering_reschedule
from tests.factories import DENVER, make_offering, two_day_times

pytestmark = pytest.mark.django_db


def messages(excinfo) -> str:
    return " | ".join(excinfo.value.messages)


def test_database_refuses_session_ending_before_start(course):
    offering = make_offering(course, date(2027, 6, 3))
    start = datetime(2027, 6, 10, 15, tzinfo=UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(offering=offering, starts_at=start, ends_at=start)


def test_database_refuses_zero_capacity_and_duplicate_slug(course):
    with pytest.raises(IntegrityError), transaction.atomic():
        Offering.objects.filter(pk=make_offering(course, date(2027, 6, 3)).pk).update(capacity=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Course.objects.create(
            title="Copy",
            slug=course.slug,
            summary="x",
            eligibility_statement="x",
            participation_requirements="x",
        )


def test_database_refuses_duplicate_offering(course):
    offering = make_offering(course, date(2027, 6, 3))
    with pytest.raises(IntegrityError), transaction.atomic():
        Offering.objects.create(
            course=course,
            starts_on=offering.starts_on,
            part_of_day="day",
            capacity=5,
            registration_opens_at=offering.registration_opens_at,
            registration_closes_at=offering.registration_closes_at,
        )


def test_create_uses_course_defaults(course):
    offering = make_offering(course, date(2027, 6, 3), evening=True)
    assert offering.capacity == 24
    assert offering.starts_on == date(2027, 6, 3)
    assert offering.time_zone == "America/Denver"
    assert offering.registration_closes_at == datetime(2027, 6, 2, 16, tzinfo=DENVER)
    assert offering.sessions.count() == 2


def test_service_rejects_three_sessions_and_wrong_length(course):
    times = two_day_times(date(2027, 6, 3))
    third = SessionTimes(
        times[1].starts_at + timedelta(days=1), times[1].ends_at + timedelta(days=1)
    )
    with pytest.raises(ValidationError) as excinfo:
        offering_create(course=course, part_of_day="day", times=[*times, third])
    assert "has 2 sessions; 3 given" in messages(excinfo)
    short = two_day_times(date(2027, 6, 3), hours=3)
    with pytest.raises(ValidationError) as excinfo:
        offering_create(course=course, part_of_day="day", times=short)
    assert "lasts 180 minutes; sessions of this course last 240 minutes" in messages(excinfo)
    assert not Offering.objects.exists()


def test_service_rejects_overlap_and_non_consecutive_days(course):
    first = datetime(2027, 6, 3, 9, tzinfo=DENVER)
    overlapping = [
        SessionTimes(first, first + timedelta(hours=4)),
        SessionTimes(first + timedelta(hours=2), first + timedelta(hours=6)),
    ]
    with pytest.raises(ValidationError) as excinfo:
        offering_create(course=course, part_of_day="day", times=overlapping)
    assert "Sessions overlap" in messages(excinfo)
    gap = [
        SessionTimes(first, first + timedelta(hours=4)),
        SessionTimes(first + timedelta(days=2), first + timedelta(days=2, hours=4)),
    ]
    with pytest.raises(ValidationError) as excinfo:
        offering_create(course=course, part_of_day="day", times=gap)
    assert "consecutive days: Thursday June 3 is followed by Saturday June 5" in messages(excinfo)


def test_service_rejects_part_of_day_contradicting_time_and_duplicates(course):
    with pytest.raises(ValidationError) as excinfo:
        offering_create(course=course, part_of_day="evening", times=two_day_times(date(2027, 6, 3)))
    assert "starting at 9:00 am is a day class, not an evening class" in messages(excinfo)
    make_offering(course, date(2027, 6, 3))
    with pytest.raises(ValidationError) as excinfo:
        make_offering(course, date(2027, 6, 3))
    assert "already has a day class starting on June 3, 2027" in messages(excinfo)


def test_reschedule_keeps_session_rows(course):
    offering = make_offering(course, date(2027, 6, 3))
    ids = list(offering.sessions.values_list("pk", flat=True))
    offering_reschedule(offering=offering, times=two_day_times(date(2027, 6, 10), time(10)))
    offering.refresh_from_db()
    assert offering.starts_on == date(2027, 6, 10)
    assert list(offering.sessions.values_list("pk", flat=True)) == ids
    assert offering.sessions.first().starts_at == datetime(2027, 6, 10, 10, tzinfo=DENVER)


def test_registration_state(course):
    offering = make_offering(
        course, date(2027, 6, 3), registration_opens_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    state = Offering.RegistrationState
    assert offering.registration_state(datetime(2026, 12, 1, tzinfo=UTC)) == state.NOT_YET_OPEN
    assert offering.registration_state(datetime(2027, 5, 1, tzinfo=UTC)) == state.OPEN
    assert offering.registration_state(datetime(2027, 6, 3, 8, tzinfo=DENVER)) == state.CLOSED
    assert offering.registration_state(datetime(2027, 6, 5, tzinfo=UTC)) == state.PAST
    offering.status = Offering.Status.CANCELLED
    assert offering.registration_state(datetime(2027, 5, 1, tzinfo=UTC)) == state.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source_day", "target_day"),
    [(date(2027, 3, 4), date(2027, 3, 18)), (date(2027, 10, 28), date(2027, 11, 11))],
    ids=["into daylight time", "into standard time"],
)
@pytest.mark.parametrize("evening", [False, True], ids=["day", "evening"])
def test_duplicating_across_a_dst_switch_keeps_the_mountain_time_hours(
    course, source_day, target_day, evening
):
    source = make_offering(course, source_day, evening=evening, capacity=17)
    source.notes = "Bring a headset."
    source.meeting_url = "https://meet.example.org/j/1"
    source.save()
    copy = scheduling.offering_duplicate(source, target_day)
    denver = DENVER
    hours = (16, 20) if evening else (9, 13)
    assert [
        (s.starts_at.astimezone(denver).hour, s.ends_at.astimezone(denver).hour)
        for s in copy.session_list
    ] == [hours, hours]
    assert [s.starts_at.astimezone(denver).date() for s in copy.session_list] == [
        target_day,
        target_day + timedelta(days=1),
    ]
    assert copy.session_list[0].starts_at - source.session_list[0].starts_at != timedelta(
        days=14
    )  # a real hour moved in UTC: the wall clock stayed
    assert (copy.status, copy.capacity, copy.notes, copy.meeting_url) == (
        Offering.Status.DRAFT, 17, "Bring a headset.", ""
    )  # fmt: skip


@pytest.mark.django_db
def test_duplicating_onto_a_taken_day_is_refused(course):
    source = make_offering(course, date(2027, 3, 4))
    make_offering(course, date(2027, 4, 1))
    with pytest.raises(ValidationError):
        scheduling.offering_duplicate(source, date(2027, 4, 1))
