"""``registrations.messaging.reminders`` under time travel (time-machine): in-process logic only,
nothing leaves the process.

The class: March 18–19, 2027, 9:00 am – 1:00 pm MDT, i.e. 15:00–19:00 UTC; the default schedule
(7 days and 1 day before the first session, 1 hour before each session). Also the schedule
itself (``courses.reminder_schedule``), which these reminders follow.
"""

import re
import threading
from datetime import UTC, date, datetime, time, timedelta

import icalendar
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection

from courses.models import Course
from courses.reminder_schedule import ReminderOffset, parse_reminder_schedule
from courses.scheduling import offering_reschedule
from registrations import links
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.messaging.reminders import reminders_send_due
from registrations.models import Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, registration_in, two_day_times

Status = OutboundEmail.Status
S1 = datetime(2027, 3, 18, 15, tzinfo=UTC)
S2 = datetime(2027, 3, 19, 15, tzinfo=UTC)
WEEK, DAY, HOUR = timedelta(days=7), timedelta(days=1), timedelta(hours=1)


@pytest.fixture
def offering(course):
    with time_machine.travel(datetime(2027, 1, 4, tzinfo=UTC), tick=False):
        return make_offering(course, date(2027, 3, 18))


def confirmed(offering, when: datetime, **fields) -> Registration:
    with time_machine.travel(when, tick=False):
        return registration_in(Registration.State.CONFIRMED, offering, **fields)


def run_at(when: datetime, times: int = 1):
    with time_machine.travel(when, tick=False):
        return [reminders_send_due() for _ in range(times)][-1]


def reminders(status: str | None = None) -> list[OutboundEmail]:
    rows = OutboundEmail.objects.filter(kind="reminder").order_by("created_at", "pk")
    return list(rows.filter(status=status) if status else rows)


def key(registration, session, minutes, version=0) -> str:
    return f"reminder:{registration.pk}:{session.pk}:{minutes}:{version}"


@pytest.mark.django_db
def test_each_offset_fires_once_on_time_when_the_task_runs_every_few_minutes(offering):
    ana = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    first, second = offering.session_list
    due = [S1 - WEEK, S1 - DAY, S1 - HOUR, S2 - HOUR]
    # The beat runs every few minutes: around each moment, and now and then in between.
    steps = [timedelta(minutes=m) for m in (-6, -3, -1, 0, 3, 6, 9, 30, 50)]
    moments = sorted({d + step for d in due for step in steps} | {S1 + HOUR, S2 + HOUR})
    for moment in moments:
        run_at(moment, times=2)
    rows = reminders()
    assert [r.dedupe_key for r in rows] == [
        key(ana, first, 7 * 24 * 60),
        key(ana, first, 24 * 60),
        key(ana, first, 60),
        key(ana, second, 60),
    ]
    assert all(r.status == Status.QUEUED for r in rows)
    for row, due_at in zip(rows, due, strict=True):
        assert row.created_at == due_at  # the first run at or after its moment


@pytest.mark.django_db
def test_reminder_content_has_meeting_link_and_cant_make_it_link(offering):
    offering.meeting_url = "https://meet.example.org/cit"
    offering.save()
    confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC), time_zone="America/New_York")
    run_at(S1 - HOUR + timedelta(minutes=2))
    [row] = reminders(Status.QUEUED)  # the 7-day and 1-day ones are skipped: all due at once
    assert emails.email_send(row.pk).outcome == "sent"
    [message] = mail.outbox
    when = "Thursday, March 18, 2027, 9:00 am – 1:00 pm MDT (your time: 11:00 am – 3:00 pm EDT)"
    assert message.subject.startswith(f"Reminder, {when}: ")
    first_line = message.body.split("\n\n")[1]  # after "Hello …,"
    assert first_line == f"A reminder: session 1 of your class starts {when}."
    assert "https://meet.example.org/cit" in message.body
    assert "Can't make it?" in message.body and "/manage/" in message.body
    assert "please convert" not in message.body
    # The manage link is made at sending time: it works, and the row never held it.
    token = re.search(r"/r/manage/([^/\s]+)/", message.body).group(1)
    assert links.read_link(links.MANAGE, token).registration == row.registration
    row.refresh_from_db()
    assert row.context["manage_url"] == emails.PERSONAL_LINK
    assert token not in row.text_body + row.html_body and "/r/manage/" not in row.text_body


@pytest.mark.django_db
def test_a_reminder_seen_from_kolkata_names_both_of_the_attendees_dates(offering):
    # 9:00 am – 1:00 pm MDT is 8:30 pm – 12:30 am the next day in India.
    confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC), time_zone="Asia/Kolkata")
    run_at(S2 - HOUR + timedelta(minutes=1))
    [row] = reminders(Status.QUEUED)
    assert emails.email_send(row.pk).outcome == "sent"
    message = mail.outbox[-1]
    when = (
        "Friday, March 19, 2027, 9:00 am – 1:00 pm MDT (your time: Friday, March 19, 8:30 pm – "
        "Saturday, March 20, 12:30 am GMT+5:30)"
    )
    assert message.subject.startswith(f"Reminder, {when}: ")
    assert f"A reminder: session 2 of your class starts {when}." in message.body


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_queue_one_message(offering, monkeypatch):
    published: list[int] = []
    monkeypatch.setattr(emails, "enqueue_send", lambda pk, countdown=0: published.append(pk))
    confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(reminders_send_due())
        finally:
            connection.close()

    with time_machine.travel(S1 - DAY + timedelta(minutes=1), tick=False):
        # The 7-day reminder was done a week ago.
        threads = [threading.Thread(target=worker) for _ in range(2)]
        run_at(S1 - WEEK)
        published.clear()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(reminders(Status.QUEUED)) == 2  # the 7-day one and the 1-day one
    assert len(published) == 1
    assert sum(r.queued for r in results) == 1


@pytest.mark.django_db
def test_worker_down_past_the_due_time_still_sends_before_the_session(offering):
    ana = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    first, second = offering.session_list
    run_at(S1 - WEEK + timedelta(minutes=3))
    run_at(S1 - DAY + timedelta(minutes=3))
    # Down from 2 hours before the session until 10 minutes before it.
    run_at(S1 - timedelta(minutes=10))
    assert reminders()[-1].dedupe_key == key(ana, first, 60)
    # Down across the start of the second session: its reminder is not sent late.
    run_at(S2 + timedelta(minutes=5))
    assert len(reminders()) == 3


@pytest.mark.django_db
def test_late_registrant_gets_only_the_latest_overdue_reminder(offering):
    ana = confirmed(offering, S1 - timedelta(hours=20))
    first, _ = offering.session_list
    result = run_at(S1 - timedelta(hours=20) + timedelta(minutes=3), times=2)
    assert result.queued == 0  # the second run found nothing new
    assert [r.dedupe_key for r in reminders(Status.QUEUED)] == [key(ana, first, 24 * 60)]
    [skipped] = reminders(Status.SKIPPED)
    assert skipped.dedupe_key == key(ana, first, 7 * 24 * 60)
    assert "1 day before the first session" in skipped.last_error
    run_at(S1 - HOUR + timedelta(minutes=1))
    assert [r.dedupe_key for r in reminders(Status.QUEUED)][-1] == key(ana, first, 60)


@pytest.mark.django_db
def test_none_after_cancellation_and_a_queued_one_is_skipped(offering):
    ana = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    ben = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    run_at(S1 - WEEK + timedelta(minutes=1))
    ana_week, ben_week = (r for r in reminders() if r.registration_id in (ana.pk, ben.pk))
    for registration in (ana, ben):
        registration_transition(
            registration_id=registration.pk, to_state="cancelled", actor=Actor.system()
        )
    # Ben's reminder was queued but not sent before he cancelled: it is skipped when sent.
    assert emails.email_send(ben_week.pk).outcome == "already-done"
    ben_week.refresh_from_db()
    assert ben_week.status == Status.SKIPPED and mail.outbox == []
    moment = S1 - DAY
    while moment < S2:
        run_at(moment)
        moment += timedelta(hours=1)
    assert len(reminders()) == 2
    # Unconfirmed registrations never get any.
    registration_in(Registration.State.HELD, offering)
    registration_in(Registration.State.WAITLISTED, offering)
    assert run_at(S1 - timedelta(minutes=30)).queued == 0


@pytest.mark.django_db
def test_changed_time_sends_one_update_with_higher_sequence_and_shifts_reminders(offering):
    ana = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    first, second = offering.session_list
    run_at(S1 - WEEK + timedelta(minutes=1))  # the 7-day reminder for March 18
    with time_machine.travel(datetime(2027, 3, 12, tzinfo=UTC), tick=False):
        moved = offering_reschedule(offering=offering, times=two_day_times(date(2027, 3, 25)))
        offering_reschedule(offering=moved, times=two_day_times(date(2027, 3, 25)))  # no change
    assert moved.schedule_version == 1
    [update] = OutboundEmail.objects.filter(kind="update")
    assert update.dedupe_key == f"update:{ana.pk}:1"
    sessions = "\n".join(update.context["sessions"])
    assert "Thursday, March 25, 2027, 9:00 am – 1:00 pm MDT" in sessions
    calendar = icalendar.Calendar.from_ical(update.attachments[0]["content"])
    events = list(calendar.walk("VEVENT"))
    assert calendar["METHOD"] == "REQUEST"
    assert [e["SEQUENCE"] for e in events] == [1, 1]
    assert [str(e["UID"]) for e in events] == [f"session-{s.pk}@127.0.0.1" for s in (first, second)]
    new_start = datetime(2027, 3, 25, 15, tzinfo=UTC)
    assert events[0].decoded("DTSTART") == new_start
    # The old moments pass without reminders; the new ones fire once each.
    new_due = [new_start - WEEK, new_start - DAY, new_start - HOUR, new_start + DAY - HOUR]
    old_due = [S1 - DAY, S1 - HOUR, S2 - HOUR]
    every_3h = [datetime(2027, 3, 12, tzinfo=UTC) + n * 3 * HOUR for n in range(8 * 14)]
    for moment in sorted({*every_3h, *(d + timedelta(minutes=2) for d in new_due + old_due)}):
        run_at(moment)
    assert [r.dedupe_key for r in reminders()] == [
        key(ana, first, 7 * 24 * 60, 0),
        key(ana, first, 7 * 24 * 60, 1),
        key(ana, first, 24 * 60, 1),
        key(ana, first, 60, 1),
        key(ana, second, 60, 1),
    ]
    assert reminders()[1].created_at >= new_start - WEEK


@pytest.mark.django_db
def test_reminder_sent_inside_its_new_window_is_not_repeated(offering):
    ana = confirmed(offering, datetime(2027, 3, 1, tzinfo=UTC))
    first, _ = offering.session_list
    run_at(S1 - DAY + timedelta(minutes=1))  # 1-day queued, 7-day skipped (both due)
    with time_machine.travel(S1 - timedelta(hours=12), tick=False):
        # One hour earlier: the 1-day reminder, sent 23 h before the new start, still counts.
        offering_reschedule(offering=offering, times=two_day_times(date(2027, 3, 18), time(8)))
    new_start = S1 - HOUR
    assert run_at(new_start - 2 * HOUR).queued == 0
    assert run_at(new_start - HOUR + timedelta(minutes=1)).queued == 1
    assert [(r.dedupe_key, r.status) for r in reminders()] == [
        (key(ana, first, 7 * 24 * 60), Status.SKIPPED),
        (key(ana, first, 24 * 60), Status.QUEUED),
        (key(ana, first, 60, 1), Status.QUEUED),
    ]


def test_reminder_schedule_reads_what_staff_write_and_refuses_the_rest():
    offsets = parse_reminder_schedule(
        "7 days before the first session\n\n 1 Day before first session\n1 hour before each session"
        "\n90 minutes before each session"
    )
    assert offsets == [
        ReminderOffset(10080, False),
        ReminderOffset(1440, False),
        ReminderOffset(90, True),
        ReminderOffset(60, True),
    ]
    assert [o.label for o in offsets][-2:] == [
        "90 minutes before each session",
        "1 hour before each session",
    ]
    with pytest.raises(ValidationError) as error:
        parse_reminder_schedule(
            "1 day before the first session\n2 fortnights before\n0 hours before each session"
        )
    assert len(error.value.messages) == 2
    assert "Line 2" in error.value.messages[0] and "Line 3" in error.value.messages[1]
    assert parse_reminder_schedule("") == []


@pytest.mark.django_db
def test_course_admin_validates_the_reminder_schedule(course, admin_client):
    url = f"/admin/courses/course/{course.pk}/change/"
    page = admin_client.get(url)
    assert "reminder_schedule" in page.content.decode()
    course.reminder_schedule = "every day at noon"
    with pytest.raises(ValidationError):
        course.full_clean()
    assert Course.objects.get(pk=course.pk).reminder_offsets[0] == ReminderOffset(10080, False)
