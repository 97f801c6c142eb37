"""Moving a confirmed registration to another class: payment kept, seats moved under the
locks, deadline and limit, one email with calendar cancellation and invitation, the old
class's waitlist offered the freed seat, reminders following the new class."""

import threading
import uuid
from datetime import timedelta

import icalendar
import pytest
from django.db import connection
from django.utils import timezone

from courses.calendar import session_uid
from courses.models import Offering
from registrations.changes import transfers
from registrations.changes.models import Transfer
from registrations.messaging import reminders
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, RegistrationEvent, User
from registrations.payments.models import Payment
from registrations.seats import queries
from registrations.transitions import Actor
from tests.factories import make_offering, next_date, registration_in

S = Registration.State


def paid(registration: Registration) -> Payment:
    return Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=25000,
        idempotency_key=f"test:{uuid.uuid4().hex}",
        paid_at=timezone.now(),
    )


@pytest.fixture
def classes(course):
    """Two open classes of the course, a week apart, months ahead."""
    first = make_offering(course, next_date(7, 8))
    second = make_offering(course, next_date(7, 8) + timedelta(days=7), evening=True)
    return first, second


def invitations(row: OutboundEmail) -> dict[str, list[str]]:
    """UIDs per iTIP method in a queued email's attachments."""
    found: dict[str, list[str]] = {}
    for attachment in row.attachments:
        calendar = icalendar.Calendar.from_ical(attachment["content"])
        method = str(calendar["METHOD"])
        assert attachment["content_type"].startswith(f"text/calendar; method={method}")
        found[method] = sorted(str(e["UID"]) for e in calendar.walk("VEVENT"))
    return found


@pytest.mark.django_db
def test_a_transfer_keeps_the_payment_moves_the_seat_and_records_it(classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    payment = paid(registration)
    assert (queries.seats_taken(first), queries.seats_taken(second)) == (1, 0)

    moved = transfers.transfer(registration.pk, second.pk, actor=Actor.attendee())

    assert moved.pk == registration.pk and moved.offering_id == second.pk
    assert moved.state == S.CONFIRMED
    assert (queries.seats_taken(first), queries.seats_taken(second)) == (0, 1)
    payment.refresh_from_db()
    assert payment.registration_id == registration.pk and payment.status == Payment.Status.PAID
    record = Transfer.objects.get(registration=registration)
    assert (record.from_offering, record.to_offering, record.actor) == (first, second, "attendee")
    assert record.fee_cents == 0
    note = RegistrationEvent.objects.filter(registration=registration).latest("pk")
    assert "Moved from the class of" in note.reason and note.to_state == ""


@pytest.mark.django_db
def test_one_email_cancels_the_old_sessions_and_invites_to_the_new(classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    transfers.transfer(registration.pk, second.pk, actor=Actor.attendee())

    rows = OutboundEmail.objects.filter(registration=registration, kind=transfers.TRANSFERRED)
    assert rows.count() == 1
    found = invitations(rows.get())
    assert found["CANCEL"] == sorted(session_uid(s) for s in first.session_list)
    assert found["REQUEST"] == sorted(session_uid(s) for s in second.session_list)
    context = rows.get().context
    assert context["offering_label"].startswith(second.date_label)
    assert context["previous_offering_label"].startswith(first.date_label)


@pytest.mark.django_db
def test_the_freed_seat_goes_to_the_old_class_waitlist(classes):
    first, second = classes
    first.capacity = 1
    first.save()
    registration = registration_in(S.CONFIRMED, first)
    waiting = registration_in(S.WAITLISTED, first, waitlisted_at=timezone.now())

    transfers.transfer(registration.pk, second.pk, actor=Actor.attendee())

    waiting.refresh_from_db()
    assert waiting.state == S.HELD and waiting.hold_is_offer
    assert OutboundEmail.objects.filter(registration=waiting, kind="waitlist_offer").exists()


@pytest.mark.django_db
def test_deadline_and_limit_bind_the_attendee_but_not_staff(classes, course):
    first, second = classes
    third = make_offering(course, next_date(7, 8) + timedelta(days=14))
    registration = registration_in(S.CONFIRMED, first)
    staff = User.objects.create_user("office", password="x", is_staff=True)
    start = first.session_list[0].starts_at

    late = start - timedelta(days=6)
    refusal = transfers.transfer_refusal(registration, second, by_staff=False, now=late)
    assert "close 7 days before the first session" in refusal
    assert transfers.transfer_options(registration, by_staff=False, now=late) == []
    with pytest.raises(transfers.TransferRefused):
        transfers.transfer(registration.pk, second.pk, actor=Actor.attendee(), now=late)
    early = start - timedelta(days=8)
    assert transfers.transfer_refusal(registration, second, by_staff=False, now=early) == ""
    assert transfers.transfer_refusal(registration, second, by_staff=True, now=late) == ""

    transfers.transfer(registration.pk, second.pk, actor=Actor.attendee())
    registration.refresh_from_db()
    assert transfers.transfers_left(registration) == 0
    refusal = transfers.transfer_refusal(registration, third, by_staff=False)
    assert "as often as this course allows" in refusal
    with pytest.raises(transfers.TransferRefused, match="as often"):
        transfers.transfer(registration.pk, third.pk, actor=Actor.attendee())

    moved = transfers.transfer(registration.pk, third.pk, actor=Actor.staff(staff))
    assert moved.offering_id == third.pk
    assert Transfer.objects.filter(registration=registration).last().staff_user == staff


@pytest.mark.django_db
def test_refusals_in_words(classes, course):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    eligible = registration_in(S.ELIGIBLE, first)
    assert "Only a confirmed place" in transfers.transfer_refusal(eligible, second, by_staff=True)
    assert "already your class" in transfers.transfer_refusal(registration, first, by_staff=True)
    second.capacity = 1
    second.save()
    registration_in(S.CONFIRMED, second)
    assert "no free seat" in transfers.transfer_refusal(registration, second, by_staff=True)
    assert transfers.transfer_options(registration, by_staff=True) == []
    draft = make_offering(course, next_date(7, 8) + timedelta(days=21), status="draft")
    assert "not open" in transfers.transfer_refusal(registration, draft, by_staff=True)
    course.transfer_fee_cents = 5000
    course.save()
    registration = Registration.objects.get(pk=registration.pk)
    assert "fee of $50." in transfers.transfer_refusal(registration, second, by_staff=False)


@pytest.mark.django_db
def test_options_list_open_classes_with_seats_soonest_first(classes, course):
    first, second = classes
    later = make_offering(course, next_date(7, 8) + timedelta(days=28))
    make_offering(course, next_date(7, 8) + timedelta(days=35), status=Offering.Status.DRAFT)
    registration = registration_in(S.CONFIRMED, first)
    options = transfers.transfer_options(registration, by_staff=False)
    assert [o.offering for o in options] == [second, later]
    assert options[0].seats_left == second.capacity


@pytest.mark.django_db
def test_reminders_follow_the_new_class(classes, course):
    first, second = classes
    course.reminder_schedule = "1 day before the first session"
    course.save()
    registration = registration_in(S.CONFIRMED, first)
    old_start = first.session_list[0].starts_at
    reminders.reminders_for_registration(
        Registration.objects.get(pk=registration.pk), old_start - timedelta(hours=2)
    )
    assert OutboundEmail.objects.filter(kind=reminders.REMINDER).count() == 1

    transfers.transfer(registration.pk, second.pk, actor=Actor.staff(User.objects.create()))
    new_start = second.session_list[0].starts_at
    run = reminders.reminders_for_registration(
        Registration.objects.get(pk=registration.pk), new_start - timedelta(hours=2)
    )
    assert run.queued == 1
    latest = OutboundEmail.objects.filter(kind=reminders.REMINDER).latest("pk")
    assert f":{second.session_list[0].pk}:" in latest.dedupe_key


@pytest.mark.django_db(transaction=True)
def test_two_transfers_into_one_free_seat_one_succeeds(classes):
    first, second = classes
    second.capacity = 1
    second.save()
    movers = [registration_in(S.CONFIRMED, first) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(registration):
        barrier.wait()
        try:
            transfers.transfer(registration.pk, second.pk, actor=Actor.attendee())
            outcome = "moved"
        except transfers.TransferRefused as exc:
            outcome = exc.message
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(r,)) for r in movers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["That class has no free seat.", "moved"]
    assert queries.seats_taken(second) == 1 and queries.seats_taken(first) == 1
    assert Transfer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_crossing_transfers_between_two_classes_do_not_deadlock(classes):
    first, second = classes
    one = registration_in(S.CONFIRMED, first)
    other = registration_in(S.CONFIRMED, second)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(registration, target):
        barrier.wait()
        try:
            transfers.transfer(registration.pk, target.pk, actor=Actor.attendee())
            outcomes.append("moved")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(one, second)),
        threading.Thread(target=attempt, args=(other, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["moved", "moved"]
    assert Registration.objects.get(pk=one.pk).offering_id == second.pk
    assert Registration.objects.get(pk=other.pk).offering_id == first.pk
