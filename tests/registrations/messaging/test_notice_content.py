"""What the registration messages say: times written by ``courses.timefmt`` in MT and the
attendee's recorded zone (sessions crossing their midnight, sessions that start at different
hours for them, deadlines), the amount and the pay-by date when eligible, that no seat is held
during review, one subject per kind, and the manage link in every message about a registration."""

import re
from datetime import UTC, date, datetime, timedelta
from itertools import product

import pytest
import time_machine
from django.core import mail
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from registrations.messaging import notices, outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import make_offering, registration_in

S = Registration.State


@pytest.fixture
def january_evening(course):
    """Thursday–Friday, January 7–8, 2027, 4:00–8:00 pm MST."""
    return make_offering(course, date(2027, 1, 7), evening=True)


def sent(*, kind: str) -> mail.EmailMessage:
    """Send the one queued row of ``kind`` now and return the message that went out."""
    row = OutboundEmail.objects.get(kind=kind)
    assert outbox.email_send(row.pk).outcome == "sent"
    return mail.outbox[-1]


def html_of(message) -> str:
    return message.alternatives[0][0]


# --- times in the attendee's zone ----------------------------------------------------------


@pytest.mark.django_db
def test_an_evening_class_seen_from_london_names_both_dates(january_evening):
    registration = registration_in(S.ELIGIBLE, january_evening, time_zone="Europe/London")
    assert notices.session_lines(registration) == [
        "Thursday, January 7, 2027, 4:00 pm – 8:00 pm MST (your time: Thursday, January 7, "
        "11:00 pm – Friday, January 8, 3:00 am GMT)",
        "Friday, January 8, 2027, 4:00 pm – 8:00 pm MST (your time: Friday, January 8, "
        "11:00 pm – Saturday, January 9, 3:00 am GMT)",
    ]


@pytest.mark.django_db
def test_a_day_class_seen_from_kolkata_names_both_dates(course):
    offering = make_offering(course, date(2027, 1, 7))
    registration = registration_in(S.ELIGIBLE, offering, time_zone="Asia/Kolkata")
    assert notices.session_lines(registration)[0] == (
        "Thursday, January 7, 2027, 9:00 am – 1:00 pm MST (your time: Thursday, January 7, "
        "9:30 pm – Friday, January 8, 1:30 am GMT+5:30)"
    )


@pytest.mark.django_db
def test_phoenix_is_told_that_a_class_across_the_march_switch_starts_earlier_on_day_two(course):
    offering = make_offering(course, date(2027, 3, 13), evening=True)
    registration = registration_in(S.ELIGIBLE, offering, time_zone="America/Phoenix")
    assert notices.session_lines(registration) == [
        "Saturday, March 13, 2027, 4:00 pm – 8:00 pm MST",
        "Sunday, March 14, 2027, 4:00 pm – 8:00 pm MDT (your time: 3:00 pm – 7:00 pm MST)",
    ]
    notices.send_eligible(registration)
    message = sent(kind="eligible")
    note = (
        "In your time zone the sessions do not all start at the same hour (a daylight saving "
        "time change falls between them): Saturday, March 13, 4:00 pm; Sunday, March 14, "
        "3:00 pm MST."
    )
    assert note in message.body and note in html_of(message)
    assert "please convert" not in message.body + html_of(message)


@pytest.mark.django_db
def test_an_attendee_in_mountain_time_gets_mountain_time_alone(january_evening):
    registration = registration_in(S.ELIGIBLE, january_evening, time_zone="America/Denver")
    assert "your time" not in " ".join(notices.session_lines(registration))
    assert notices.times_note(registration) == "Times are Mountain Time (MT)."


@pytest.mark.django_db
def test_the_waitlist_offer_deadline_names_the_attendees_weekday(january_evening):
    registration = registration_in(S.HELD, january_evening, time_zone="America/New_York")
    registration.hold_expires_at = datetime(2026, 12, 2, 6, 53, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 12, 1, 7, tzinfo=UTC), tick=False):
        notices.send_waitlist_offer(registration)
    row = OutboundEmail.objects.get(kind="waitlist_offer")
    assert row.context["offer_ends"] == (
        "Tuesday, December 1, 2026, 11:53 pm MST (your time: Wednesday, December 2, 1:53 am EST)"
    )


# --- eligible and under review: the amount, the date, the seat -----------------------------


@pytest.mark.django_db
def test_eligible_gives_the_amount_and_the_date_by_which_to_pay(january_evening):
    january_evening.registration_closes_at = datetime(2027, 1, 6, 23, tzinfo=UTC)
    january_evening.save()
    registration = registration_in(S.ELIGIBLE, january_evening, time_zone="America/New_York")
    notices.send_eligible(registration)
    message = sent(kind="eligible")
    tuition = f"${january_evening.course.tuition_cents // 100:,}"
    pay_by = (
        "Wednesday, January 6, 2027, 4:00 pm MST (your time: Wednesday, January 6, 6:00 pm EST)"
    )
    for body in (message.body, html_of(message).replace("<strong>", "").replace("</strong>", "")):
        assert f"pay the tuition of {tuition} on your registration page by {pay_by}" in body
        assert "Your seat is not held until you pay" in body


@pytest.mark.django_db
def test_eligible_after_registration_closed_says_so_instead_of_a_past_date(january_evening):
    registration = registration_in(S.ELIGIBLE, january_evening)
    closes = january_evening.registration_closes_at
    with time_machine.travel(closes + timedelta(minutes=1), tick=False):
        notices.send_eligible(registration)
    row = OutboundEmail.objects.get(kind="eligible")
    assert row.context["pay_by"] == ""
    assert "registration for this class has closed" in sent(kind="eligible").body


@pytest.mark.django_db
def test_under_review_says_the_seat_is_not_held_until_payment(january_evening):
    registration = registration_in(S.PENDING_REVIEW, january_evening, time_zone="Pacific/Honolulu")
    notices.send_under_review(registration)
    message = sent(kind="under_review")
    for body in (message.body, html_of(message)):
        assert "Your seat is not held until you pay" in body
        assert "HST)" in body  # the pay-by date in the attendee's time too


# --- subjects: one per kind ----------------------------------------------------------------


# Every flag a subject template branches on, both ways.
SUBJECT_FLAGS = {"full": (True, False), "lapsed": (True, False), "times_changed": (True, False)}
SUBJECT_CONTEXT = {
    "course_title": "CIT Support Training",
    "offering_label": "January 7–8, 2027, evening class",
    "registrant_name": "Ana Call-Taker",
    "employer_name": "Denver 911",
    "event_type": "checkout.session.completed",
    "when": "Thursday, January 7, 2027, 4:00 pm – 8:00 pm MST",
    "organisation_name": "Training Institute",
    "subject": "A message about your class",  # a broadcast's subject is the one staff type
}


def subjects_of(kind: str) -> set[str]:
    template = f"emails/{kind}_subject.txt"
    get_template(template)  # every registered kind has its subject template
    variants = set()
    for values in product(*SUBJECT_FLAGS.values()):
        context = {**SUBJECT_CONTEXT, **dict(zip(SUBJECT_FLAGS, values, strict=True))}
        variants.add(" ".join(render_to_string(template, context).split()))
    return variants


def test_every_registered_kind_has_a_subject_no_other_kind_has():
    seen: dict[str, str] = {}
    for kind in sorted(outbox.KINDS):
        for subject in subjects_of(kind):
            assert subject not in seen, f"{kind} and {seen.get(subject)} share {subject!r}"
            seen[subject] = kind
    assert {"rejected", "manage_link"} <= set(seen.values())


def test_the_rejection_and_the_lost_link_read_differently():
    assert subjects_of("rejected") == {
        "We could not confirm your eligibility for CIT Support Training"
    }
    assert subjects_of("manage_link") == {"Your registration for CIT Support Training"}


# --- the manage link in every message about a registration ---------------------------------


# The notices' kinds sent to the attendee about their registration (reminders: see
# tests/registrations/messaging/test_reminders.py). Not here: the staff alerts, the supervisor's
# request, and the new-address confirmation, which goes to an address not confirmed yet and so
# carries no personal link.
NOT_TO_THE_ATTENDEE = {"staff_alert", "payment_alert", "supervisor_confirmation"}
ATTENDEE_KINDS = {
    value
    for name, value in vars(notices.Kind).items()
    if name.isupper() and value not in NOT_TO_THE_ATTENDEE | {"confirm_new_email"}
}


def manage_tokens(text: str) -> list[str]:
    return re.findall(r"/r/manage/[^/\s\"]+/", text)


@pytest.mark.django_db
def test_every_message_to_the_attendee_carries_the_manage_link(january_evening):
    r = registration_in(S.CONFIRMED, january_evening)
    r.hold_expires_at = timezone.now() + timedelta(hours=24)
    r.waitlisted_at = timezone.now()
    notices.send_confirmation(r)
    notices.send_update(r, times_changed=True, link_changed=False)
    notices.send_work_email_confirmation(r)
    notices.send_under_review(r)
    notices.send_eligible(r)
    notices.send_rejected(r, "Not a call center.")
    notices.send_manage_link(r)
    notices.send_cancelled(r)
    notices.send_waitlist_joined(r, 2)
    notices.send_waitlist_offer(r)
    notices.send_waitlist_left(r, lapsed=True)
    notices.send_hold_lapsed(r)
    notices.send_payment_failed(r)
    notices.send_refund_issued(r, payment_id=1, paid_cents=25000, total_cents=25000)
    notices.send_place_ended(r, reason="You cancelled your registration.")
    rows = OutboundEmail.objects.filter(registration=r).order_by("pk")
    assert {row.kind for row in rows} == ATTENDEE_KINDS
    for row in rows:
        assert outbox.email_send(row.pk).outcome == "sent", row.kind
        message = mail.outbox[-1]
        assert manage_tokens(message.body), f"{row.kind}: no manage link in the text"
        assert manage_tokens(html_of(message)), f"{row.kind}: no manage link in the HTML"
