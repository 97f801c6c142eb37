"""The confirmation, its calendar invitation, and the cancellation notice (METHOD:CANCEL)."""

from datetime import UTC, date, datetime

import icalendar
import pytest
from django.core import mail
from django.db import transaction

from courses.calendar import session_uid
from registrations.messaging import notices
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, registration_in
from tests.services import wait_for

Status = OutboundEmail.Status


def parts_of(message) -> dict[str, object]:
    """{content type: part} of a parsed message, walking nested multiparts."""
    return {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}


def events_of(ics: bytes | str) -> tuple[icalendar.Calendar, list[icalendar.Event]]:
    calendar = icalendar.Calendar.from_ical(ics)
    return calendar, list(calendar.walk("VEVENT"))


@pytest.mark.django_db(transaction=True)
def test_confirmation_over_smtp_with_times_either_side_of_dst_and_invitation(
    course, mail_worker, settings
):
    settings.TRAINING_ADMIN_EMAIL = "training@citreg.localhost"
    march = make_offering(course, date(2027, 3, 18))  # after the switch to MDT (March 14)
    november = make_offering(course, date(2027, 11, 4), evening=True)  # before MST (November 7)
    march.meeting_url = "https://meet.example.org/cit-march"
    march.save()
    ana = registration_in(
        Registration.State.CONFIRMED, march, first_name="Ana", time_zone="America/Los_Angeles"
    )
    ben = registration_in(
        Registration.State.CONFIRMED, november, first_name="Ben", time_zone="America/Los_Angeles"
    )
    with mail_worker.start():
        with transaction.atomic():
            notices.send_confirmation(ana)
            notices.send_confirmation(ben)
            notices.send_confirmation(ben)  # the same key: one message
        wait_for(lambda: len(mail_worker.handler.messages) == 2, timeout=30)
    assert OutboundEmail.objects.filter(kind="confirmation", status=Status.SENT).count() == 2
    received = {str(m["To"]).split("<")[-1].rstrip(">"): m for m in mail_worker.handler.messages}

    march_mail = parts_of(received[ana.email])
    text = march_mail["text/plain"].get_content()
    html = march_mail["text/html"].get_content()
    for body in (text, html):
        assert "Thursday, March 18, 2027, 9:00 am – 1:00 pm MDT" in body
        assert "Friday, March 19, 2027, 9:00 am – 1:00 pm MDT" in body
        assert "8:00 am – 12:00 pm PDT your time" in body
        assert "please convert" in body
        assert "https://meet.example.org/cit-march" in body
        assert "/manage/" in body
        assert "camera" in body.lower()
        assert settings.TRAINING_ADMIN_EMAIL in body
    assert received[ana.email]["Reply-To"] == settings.TRAINING_ADMIN_EMAIL

    nov_mail = parts_of(received[ben.email])
    nov_text = nov_mail["text/plain"].get_content()
    assert "Thursday, November 4, 2027, 4:00 pm – 8:00 pm MDT" in nov_text
    assert "Friday, November 5, 2027, 4:00 pm – 8:00 pm MDT" in nov_text
    assert "3:00 pm – 7:00 pm PDT your time" in nov_text
    assert "Your meeting link follows" in nov_text

    invitation = nov_mail["text/calendar"]
    assert invitation.get_param("method") == "REQUEST"
    calendar, events = events_of(invitation.get_content())
    assert calendar["METHOD"] == "REQUEST"
    sessions = november.session_list
    assert [e.decoded("DTSTART") for e in events] == [
        datetime(2027, 11, 4, 22, tzinfo=UTC),
        datetime(2027, 11, 5, 22, tzinfo=UTC),
    ]
    assert [e.decoded("DTEND") for e in events] == [
        datetime(2027, 11, 5, 2, tzinfo=UTC),
        datetime(2027, 11, 6, 2, tzinfo=UTC),
    ]
    assert [str(e["UID"]) for e in events] == [session_uid(s) for s in sessions]
    for event in events:
        assert str(event["ORGANIZER"]) == f"mailto:{settings.TRAINING_ADMIN_EMAIL}"
        attendee = event["ATTENDEE"]
        assert str(attendee) == f"mailto:{ben.email}"
        assert attendee.params["RSVP"] == "FALSE"
        assert event["SEQUENCE"] == 0
        assert isinstance(event.decoded("DTSTART"), datetime)  # timed, never all-day

    _, march_events = events_of(march_mail["text/calendar"].get_content())
    assert [e.decoded("DTSTART") for e in march_events] == [
        datetime(2027, 3, 18, 15, tzinfo=UTC),
        datetime(2027, 3, 19, 15, tzinfo=UTC),
    ]
    assert all(str(e["LOCATION"]) == march.meeting_url for e in march_events)


@pytest.mark.django_db
def test_confirmation_refused_unless_confirmed(course):
    offering = make_offering(course, date(2027, 3, 18))
    held = registration_in(Registration.State.HELD, offering)
    with pytest.raises(ValueError, match="not confirmed"):
        notices.send_confirmation(held)
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db
def test_place_ended_sends_cancel_with_same_uids_once(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "https://meet.example.org/secret"
    offering.save()
    registration = registration_in(Registration.State.CONFIRMED, offering)
    notices.send_confirmation(registration)
    emails.email_send(OutboundEmail.objects.get(kind="confirmation").pk)  # sent while confirmed
    registration = registration_transition(
        registration_id=registration.pk, to_state="cancelled", actor=Actor.system()
    ).registration
    notices.send_place_ended(registration, reason="You cancelled; your refund is on its way.")
    notices.send_place_ended(registration, reason="again")
    ended = OutboundEmail.objects.get(kind="place_ended")
    assert ended.dedupe_key == f"place-ended:{registration.pk}"
    for email in OutboundEmail.objects.order_by("pk"):
        emails.email_send(email.pk)
    confirmation, cancel = mail.outbox
    _, invited = events_of(confirmation.attachments[0].get_content())
    calendar, cancelled = events_of(cancel.attachments[0].get_content())
    assert calendar["METHOD"] == "CANCEL"
    assert cancel.attachments[0].get_param("method") == "CANCEL"
    assert [e["UID"] for e in cancelled] == [e["UID"] for e in invited]
    assert all(e["STATUS"] == "CANCELLED" for e in cancelled)
    assert "refund is on its way" in cancel.body
    assert "meet.example.org/secret" not in cancel.body + cancel.attachments[0].get_content()


@pytest.mark.django_db
def test_meeting_link_only_in_messages_to_confirmed_attendees(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "https://meet.example.org/secret"
    offering.save()
    held = registration_in(Registration.State.HELD, offering)
    confirmed = registration_in(Registration.State.CONFIRMED, offering)
    assert notices.attendee_context(held)["meeting_url"] == ""
    assert notices.attendee_context(confirmed)["meeting_url"] == offering.meeting_url
    notices.send_eligible(held)
    emails.email_send(OutboundEmail.objects.get().pk)
    assert "meet.example.org" not in mail.outbox[0].body
