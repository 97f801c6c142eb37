"""``registrations.messaging.notices``: the confirmation and its calendar invitation, the
cancellation notice (METHOD:CANCEL), updates when staff change a class, waitlist offers, and the
meeting link only for confirmed attendees.

Also here for now, because they drive the offering admin that sends the updates: the offering
admin's own checks (``courses.admin``) and the cancelled class's calendar (``courses.views``).
"""

import re
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
from django.core import mail
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from icalendar import Calendar

from courses.calendar import session_uid
from courses.models import Offering, Session
from registrations import links
from registrations.messaging import broadcasts, notices
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import CONFIRM, change_form, open_offering
from tests.services import wait_for

S = Registration.State
Status = OutboundEmail.Status


@pytest.fixture
def offering(course):
    return make_offering(course, date(2027, 3, 18))


def parts_of(message) -> dict[str, object]:
    """{content type: part} of a parsed message, walking nested multiparts."""
    return {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}


def events_of(ics: bytes | str) -> tuple[icalendar.Calendar, list[icalendar.Event]]:
    calendar = icalendar.Calendar.from_ical(ics)
    return calendar, list(calendar.walk("VEVENT"))


# --- the confirmation and the end of a place ------------------------------------------------------


@pytest.mark.integration
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
        assert "9:00 am – 1:00 pm MDT (your time: 8:00 am – 12:00 pm PDT)" in body
        assert "with your time (America/Los_Angeles) in brackets" in body
        assert "please convert" not in body
        assert "https://meet.example.org/cit-march" in body
        assert "/manage/" in body
        assert "camera" in body.lower()
        assert settings.TRAINING_ADMIN_EMAIL in body
    assert received[ana.email]["Reply-To"] == settings.TRAINING_ADMIN_EMAIL

    nov_mail = parts_of(received[ben.email])
    nov_text = nov_mail["text/plain"].get_content()
    assert "Thursday, November 4, 2027, 4:00 pm – 8:00 pm MDT" in nov_text
    assert "Friday, November 5, 2027, 4:00 pm – 8:00 pm MDT" in nov_text
    assert "4:00 pm – 8:00 pm MDT (your time: 3:00 pm – 7:00 pm PDT)" in nov_text
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


@pytest.mark.django_db(transaction=True)
def test_no_meeting_link_for_people_no_longer_confirmed(offering, admin_user):
    offering.meeting_url = "https://meet.example.org/secret"
    offering.save()
    ana = registration_in(S.CONFIRMED, offering)
    notices.send_confirmation(ana)
    confirmation = OutboundEmail.objects.get(kind="confirmation")
    OutboundEmail.objects.filter(pk=confirmation.pk).update(status="queued", attempts=1)
    broadcast = Broadcast.objects.create(
        offering=offering, audience=Broadcast.Audience.CONFIRMED, subject="Hi",
        body="Join at {meeting_url}", author=admin_user,
    )  # fmt: skip
    broadcasts.broadcast_send(broadcast, user=admin_user)
    row = OutboundEmail.objects.get(batch=broadcast.batch_key)
    OutboundEmail.objects.filter(pk=row.pk).update(status=OutboundEmail.Status.FAILED)
    Registration.objects.filter(pk=ana.pk).update(state=S.REFUNDED)  # the place ended
    mail.outbox.clear()
    emails.email_send(confirmation.pk)  # a retry due after the refund
    broadcasts.broadcast_retry_failed(broadcast)
    emails.email_send(row.pk)
    assert not any("meet.example.org/secret" in m.body for m in mail.outbox)
    assert set(
        OutboundEmail.objects.filter(pk__in=[confirmation.pk, row.pk]).values_list(
            "status", flat=True
        )
    ) == {"skipped"}


@pytest.mark.django_db
def test_offer_deadline_in_the_attendees_zone_too(course):
    offering = make_offering(course, date(2027, 3, 18))
    registration = registration_in(S.HELD, offering, time_zone="America/New_York")
    registration.hold_expires_at = timezone.now() + timedelta(hours=24)
    notices.send_waitlist_offer(registration)
    text = OutboundEmail.objects.get(kind="waitlist_offer").context["offer_ends"]
    mountain, _, own = text.partition(" (your time: ")
    assert mountain.endswith((" MST", " MDT")) and own.endswith((" EST)", " EDT)"))


# --- staff change a class in the admin: one update per confirmed attendee ------------------------


def post(admin_client, offering, **changes):
    url = f"/admin/courses/offering/{offering.pk}/change/"
    response = admin_client.post(url, {**change_form(offering, **changes), **CONFIRM})
    assert response.status_code == 302, response.context["adminform"].form.errors
    offering.refresh_from_db()
    return response


@pytest.mark.django_db
def test_admin_time_change_sends_one_update_per_confirmed_attendee(admin_client, offering):
    ana = registration_in(Registration.State.CONFIRMED, offering)
    registration_in(Registration.State.HELD, offering)
    page = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert f"/admin/registrations/broadcast/add/?offering={offering.pk}" in page
    post(admin_client, offering)  # saved unchanged: nothing
    assert offering.schedule_version == 0
    assert not OutboundEmail.objects.filter(kind="update").exists()
    post(admin_client, offering, shift=timedelta(hours=1))
    assert offering.schedule_version == 1
    [update] = OutboundEmail.objects.filter(kind="update")
    assert (update.registration_id, update.dedupe_key) == (ana.pk, f"update:{ana.pk}:1")
    assert update.context["times_changed"] is True
    assert "10:00 am – 2:00 pm MDT" in update.context["sessions"][0]
    calendar = icalendar.Calendar.from_ical(update.attachments[0]["content"])
    assert {e["SEQUENCE"] for e in calendar.walk("VEVENT")} == {1}


@pytest.mark.django_db
def test_admin_meeting_link_set_sends_link_to_confirmed_only(admin_client, offering):
    ana = registration_in(Registration.State.CONFIRMED, offering)
    registration_in(Registration.State.WAITLISTED, offering)
    post(admin_client, offering, meeting_url="https://meet.example.org/cit-1")
    [update] = OutboundEmail.objects.filter(kind="update")
    assert update.registration_id == ana.pk
    assert update.context["meeting_url"] == "https://meet.example.org/cit-1"
    assert update.context["link_changed"] is True and update.context["times_changed"] is False
    calendar = icalendar.Calendar.from_ical(update.attachments[0]["content"])
    assert {str(e["LOCATION"]) for e in calendar.walk("VEVENT")} == {
        "https://meet.example.org/cit-1"
    }
    post(admin_client, offering, meeting_url="https://meet.example.org/cit-2")
    assert OutboundEmail.objects.filter(kind="update").count() == 2
    assert offering.schedule_version == 2


@pytest.mark.django_db
def test_sessions_are_moved_not_replaced_in_the_admin(admin_client, offering):
    registration_in(S.CONFIRMED, offering)
    old = offering.session_list[1]
    data = change_form(offering)
    data["sessions-1-DELETE"] = "on"  # no delete box is offered; a forged one is ignored
    starts = (old.starts_at + timedelta(hours=1)).astimezone(offering.zone)
    data.update({
        "sessions-TOTAL_FORMS": "3", "sessions-2-offering": offering.pk,
        "sessions-2-day": f"{starts:%Y-%m-%d}", "sessions-2-start": f"{starts:%H:%M:%S}",
    })  # fmt: skip
    response = admin_client.post(f"/admin/courses/offering/{offering.pk}/change/", data)
    assert response.status_code == 200
    assert "has 2 sessions; 3 given" in response.content.decode()
    assert Session.objects.filter(pk=old.pk).exists()
    assert not OutboundEmail.objects.filter(kind="update").exists()


@pytest.mark.django_db
def test_moving_a_class_in_the_admin_moves_the_registration_deadline(admin_client, offering):
    response = admin_client.post(
        f"/admin/courses/offering/{offering.pk}/change/",
        change_form(offering, shift=timedelta(days=-3)),
    )
    assert response.status_code == 302
    offering = Offering.objects.get(pk=offering.pk)
    first = offering.session_list[0].starts_at
    assert offering.registration_closes_at == first - offering.course.registration_lead
    assert offering.registration_state(first + timedelta(hours=1)) != "open"


@pytest.mark.django_db
def test_unknown_time_zones_are_refused_with_a_message(admin_client, offering, course):
    response = admin_client.post(
        f"/admin/courses/offering/{offering.pk}/change/",
        change_form(offering, time_zone="America/Denvr"),
    )
    assert response.status_code == 200
    assert "is not a time zone name" in response.content.decode()
    data = {k: v for k, v in model_to_dict(course).items() if v is not None}
    data["time_zone"] = "Mountain Time"
    response = admin_client.post(f"/admin/courses/course/{course.pk}/change/", data)
    course.refresh_from_db()
    assert course.time_zone == "America/Denver"


@pytest.mark.django_db
def test_cancelled_class_calendar_says_so(client, course):
    offering = open_offering(course)
    Offering.objects.filter(pk=offering.pk).update(status=Offering.Status.CANCELLED)
    response = client.get(f"{offering.get_absolute_url()}calendar.ics")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert {str(event["STATUS"]) for event in events} == {"CANCELLED"}


# --- personal links: made when sent, never kept --------------------------------------------------


def tokens_in(text: str) -> list[str]:
    return re.findall(r"/r/(?:manage|confirm|supervisor|email)/([^/\s\"]+)/", text)


@pytest.mark.django_db
def test_links_are_made_when_sent_and_the_log_keeps_none(
    offering, django_capture_on_commit_callbacks
):
    registration = registration_in(S.PENDING_EMAIL, offering)
    with django_capture_on_commit_callbacks(execute=True):
        notices.send_work_email_confirmation(registration)
        notices.send_supervisor_request(registration)
    confirm, supervisor = OutboundEmail.objects.order_by("pk")
    assert confirm.context["confirm_url"] == emails.PERSONAL_LINK
    assert confirm.context["manage_url"] == emails.PERSONAL_LINK
    assert "manage_url" not in supervisor.context  # the supervisor gets no manage link
    to_attendee, to_supervisor = mail.outbox
    confirm_token, manage_token = tokens_in(to_attendee.body)
    assert links.read_link(links.WORK_EMAIL, confirm_token).registration == registration
    assert links.read_link(links.MANAGE, manage_token).registration == registration
    [supervisor_token] = tokens_in(to_supervisor.body)
    assert links.read_link(links.SUPERVISOR, supervisor_token).registration == registration
    for row in (confirm, supervisor):
        row.refresh_from_db()
        kept = row.subject + row.text_body + row.html_body + str(row.context)
        assert row.status == Status.SENT and not tokens_in(kept)
        assert emails.PERSONAL_LINK in row.text_body


@pytest.mark.django_db
def test_a_confirmation_for_an_address_changed_since_is_not_sent(
    offering, django_capture_on_commit_callbacks
):
    registration = registration_in(S.PENDING_EMAIL, offering, work_email="old@denver911.gov")
    with django_capture_on_commit_callbacks(execute=False):
        notices.send_work_email_confirmation(registration)
    Registration.objects.filter(pk=registration.pk).update(work_email="new@denver911.gov")
    row = OutboundEmail.objects.get()
    assert emails.email_send(row.pk).outcome == "already-done"
    row.refresh_from_db()
    assert row.status == Status.SKIPPED and "address changed" in row.last_error
    assert not mail.outbox


@pytest.mark.django_db
def test_a_manage_link_goes_only_to_the_registrations_current_address(
    offering, django_capture_on_commit_callbacks
):
    registration = registration_in(S.ELIGIBLE, offering, email="typo@example.org")
    with django_capture_on_commit_callbacks(execute=False):
        notices.send_manage_link(registration)
        notices.send_eligible(registration)
    Registration.objects.filter(pk=registration.pk).update(email="right@example.org")
    old, fixed = OutboundEmail.objects.order_by("pk")
    assert emails.email_send(old.pk).outcome == "sent"
    [message] = mail.outbox
    assert not tokens_in(message.body) and "/r/link/" in message.body
    OutboundEmail.objects.filter(pk=fixed.pk).update(to_email="right@example.org")
    assert emails.email_send(fixed.pk).outcome == "sent"
    [token] = tokens_in(mail.outbox[-1].body)
    assert links.read_link(links.MANAGE, token).address == "right@example.org"


@pytest.mark.django_db
def test_a_staff_alert_carries_no_attendee_link(offering, django_capture_on_commit_callbacks):
    registration = registration_in(S.ELIGIBLE, offering)
    with django_capture_on_commit_callbacks(execute=True):
        notices.send_staff_alert(registration, "Money arrived twice.")
    row = OutboundEmail.objects.get()
    assert "manage_url" not in row.context and not tokens_in(mail.outbox[-1].body)
    assert "/admin/registrations/registration/" in mail.outbox[-1].body
