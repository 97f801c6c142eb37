"""``registrations.messaging.broadcasts`` ("email the attendees"): placeholders, recipients,
preview, pacing, the pump, and a real delivery to 60 recipients through an SMTP server that
defers and refuses some messages."""

import re
from datetime import date, timedelta
from email.utils import getaddresses

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from registrations import links
from registrations.messaging import broadcasts
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, Registration
from tests.factories import make_offering, registration_in
from tests.registrations import helpers
from tests.services import ScriptedSMTPHandler, wait_for

S = Registration.State
Status = OutboundEmail.Status


@pytest.fixture
def offering(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "https://meet.example.org/cit"
    offering.save()
    return offering


def test_only_known_placeholders_are_substituted_and_others_refused():
    values = {name: f"<{name}>" for name in broadcasts.PLACEHOLDERS}
    assert broadcasts.substitute("Hi {first_name} {{literal}} {last_name}", values) == (
        "Hi <first_name> {literal} <last_name>"
    )
    assert broadcasts.unknown_placeholders("{first_name.__class__} {0} {} {x} {x}") == [
        "first_name.__class__",
        "0",
        "",
        "x",
    ]
    with pytest.raises(ValidationError, match=r"Unknown placeholders \{secret_key\}, \{0\}"):
        broadcasts.substitute("{secret_key} {0}", values)
    # Attendee-typed values are inserted as they are, never interpreted again.
    assert broadcasts.substitute("{first_name}", {**values, "first_name": "{last_name}"}) == (
        "{last_name}"
    )


@pytest.mark.parametrize("text", ["Hi {first_name", "Hi first_name}", "Hi {{literal}} }"])
def test_a_lone_brace_is_refused(text):

    with pytest.raises(ValidationError, match="brace is not closed or not opened"):
        broadcasts.validate_template_text(text)
    broadcasts.validate_template_text("Hi {first_name}, {{literal}}")  # fine


@pytest.mark.django_db
def test_recipients_by_state_and_meeting_link_only_for_confirmed(offering):
    people = {state: registration_in(state, offering) for state in (
        S.CONFIRMED, S.WAITLISTED, S.HELD, S.PROCESSING, S.ELIGIBLE,
    )}  # fmt: skip
    cancelled = registration_in(S.ELIGIBLE, offering)
    cancelled.state = S.CANCELLED
    cancelled.save()

    def who(audience: str) -> set[str]:
        broadcast = Broadcast(offering=offering, audience=audience, subject="s", body="b")
        return {r.state for r in broadcasts.recipients(broadcast)}

    assert who(Broadcast.Audience.CONFIRMED) == {S.CONFIRMED}
    assert who(Broadcast.Audience.WAITLISTED) == {S.WAITLISTED}
    assert who(Broadcast.Audience.PAYING) == {S.HELD, S.PROCESSING}
    assert who(Broadcast.Audience.ACTIVE) == set(people)
    values = broadcasts.placeholder_values(people[S.CONFIRMED])
    assert values["meeting_url"] == offering.meeting_url
    assert (
        "meet.example.org" not in broadcasts.placeholder_values(people[S.WAITLISTED])["meeting_url"]
    )


@pytest.mark.django_db
def test_attendee_values_are_escaped_in_html_and_cannot_add_headers(offering):
    registration_in(S.CONFIRMED, offering, first_name="<b>Ana</b>\r\nBcc: thief@example.org")
    broadcast = Broadcast.objects.create(
        offering=offering, subject="Hello {first_name}", body="Hi {first_name}, see {manage_url}"
    )
    shown = broadcasts.preview(broadcast)
    assert "&lt;b&gt;Ana&lt;/b&gt;" in shown.html and "<b>Ana" not in shown.html
    assert "\n" not in shown.subject and "\r" not in shown.subject


@pytest.mark.django_db
def test_the_preview_and_the_stored_message_hold_no_working_link(offering, mailoutbox):
    ana = registration_in(S.CONFIRMED, offering, first_name="Ana")
    broadcast = Broadcast.objects.create(
        offering=offering, subject="Hi {first_name}", body="Hi {first_name}, see {manage_url}"
    )
    shown = broadcasts.preview(broadcast)
    assert broadcasts.PREVIEW_MANAGE_URL in shown.text and "/r/manage/" not in shown.html
    broadcasts.broadcast_send(broadcast, user=None)
    row = broadcasts.batch_emails(broadcast).get()
    assert "/r/manage/" not in str(row.context) and emails.PERSONAL_LINK in row.context["body"]
    assert emails.email_send(row.pk).outcome == "sent"
    sent = mailoutbox[-1]
    html = sent.alternatives[0].content
    assert '<a href="http://127.0.0.1:8000/r/manage/' in html  # the attendee's link is clickable
    token = re.search(r"/r/manage/([^/\s]+)/", sent.body).group(1)
    assert links.read_link(links.MANAGE, token).registration == ana
    row.refresh_from_db()
    assert "/r/manage/" not in row.text_body + row.html_body + str(row.context)
    assert f"see {emails.PERSONAL_LINK}" in row.text_body


@pytest.mark.django_db
def test_sending_is_paced_and_the_pump_publishes_only_what_is_due(offering, settings, monkeypatch):
    settings.BROADCAST_RATE_PER_MINUTE = 30  # one every 2 seconds
    published: list[int] = []
    monkeypatch.setattr(broadcasts, "enqueue_send", lambda pk: published.append(pk))
    for _ in range(5):
        registration_in(S.CONFIRMED, offering)
    broadcast = Broadcast.objects.create(offering=offering, subject="Hi", body="Hi {first_name}")
    assert broadcasts.broadcast_send(broadcast, user=None) == 5
    with pytest.raises(broadcasts.AlreadySent):
        broadcasts.broadcast_send(broadcast, user=None)
    rows = list(broadcasts.batch_emails(broadcast).order_by("next_attempt_at"))
    gaps = [(b.next_attempt_at - a.next_attempt_at) for a, b in zip(rows, rows[1:], strict=False)]
    assert gaps == [timedelta(seconds=2)] * 4
    start = rows[0].next_attempt_at
    first = broadcasts.broadcast_pump(broadcast.pk, now=start + timedelta(seconds=3))
    assert (first.published, published) == (2, [rows[0].pk, rows[1].pk])
    assert 0 < first.next_in <= broadcasts.PUMP_MAX_WAIT_SECONDS
    again = broadcasts.broadcast_pump(broadcast.pk, now=start + timedelta(seconds=3))
    assert again.published == 0  # published rows are not published again
    broadcasts.broadcast_pump(broadcast.pk, now=start + timedelta(seconds=9))
    assert len(published) == 5
    for row in rows:
        emails.email_send(row.pk)
    assert broadcasts.broadcast_pump(broadcast.pk).next_in is None  # done: the pump stops
    assert broadcasts.progress(broadcast).sent == 5


@pytest.mark.django_db
def test_a_stopped_pump_is_restarted_and_the_sweeper_leaves_its_rows(offering, monkeypatch):
    published: list[int] = []
    pumps: list[int] = []
    monkeypatch.setattr(emails, "enqueue_send", lambda pk, countdown=0: published.append(pk))
    monkeypatch.setattr(broadcasts, "start_pump", lambda pk: pumps.append(pk))
    for _ in range(3):
        registration_in(S.CONFIRMED, offering)
    broadcast = Broadcast.objects.create(offering=offering, subject="Hi", body="Hi")
    broadcasts.broadcast_send(broadcast, user=None)  # its pump never starts (broker down)
    later = timezone.now() + timedelta(minutes=2)
    Broadcast.objects.filter(pk=broadcast.pk).update(sent_at=later - timedelta(minutes=2))
    assert emails.email_sweep(now=later) == 0  # no burst: the rows wait for their pump
    assert published == [] and pumps == []
    assert broadcasts.broadcasts_restart_stalled(now=later) == [broadcast.pk]  # its beat entry
    assert published == [] and pumps == [broadcast.pk]
    Broadcast.objects.filter(pk=broadcast.pk).update(pumped_at=later - timedelta(seconds=5))
    emails.email_sweep(now=later)
    assert pumps == [broadcast.pk]  # a running pump is left alone


class BroadcastSMTP(ScriptedSMTPHandler):
    """Defers the 21st to 30th message it receives once (451) and refuses one address (550)."""

    refused = "nobody@example.org"  # a class default; a test may change it on the instance

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if envelope.rcpt_tos == [self.refused]:
            self.attempts += 1
            return "550 5.1.1 No such user"
        if 21 <= self.attempts + 1 <= 30:
            self.attempts += 1
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_broadcast_to_60_through_deferring_and_refusing_smtp(
    admin_client, course, mail_worker, settings
):
    settings.BROADCAST_RATE_PER_MINUTE = 3000
    offering = make_offering(course, date(2027, 3, 18))
    mail_worker.handler.__class__ = BroadcastSMTP  # the running server calls this handler
    handler = mail_worker.handler
    people = [registration_in(S.CONFIRMED, offering) for _ in range(59)]
    people.append(registration_in(S.CONFIRMED, offering, email="nobody@example.org"))
    response = admin_client.post(
        reverse("admin:registrations_broadcast_add"),
        {
            "offering": offering.pk,
            "audience": "confirmed",
            "subject": "Before class, {first_name}",
            "body": "Hello {first_name},\n\nPlease test your camera. {manage_url}",
        },
    )
    broadcast = Broadcast.objects.get()
    change = response["Location"]
    with mail_worker.start():
        started = timezone.now()
        admin_client.post(reverse("admin:registrations_broadcast_send", args=[broadcast.pk]))
        running = admin_client.get(change).content.decode()
        assert "60</strong> recipients" in running
        assert 'http-equiv="refresh"' in running  # refreshes itself while sending
        wait_for(lambda: not broadcasts.progress(broadcast).running, timeout=60)
        elapsed = (timezone.now() - started).total_seconds()
    progress = broadcasts.progress(broadcast)
    assert (progress.total, progress.sent, progress.failed, progress.queued) == (60, 59, 1, 0)
    received = [getaddresses([str(m["To"])])[0][1] for m in handler.messages]
    assert sorted(received) == sorted(p.email for p in people[:59])
    assert handler.attempts == 60 + 10  # each deferred message tried twice, the refused once
    failed = OutboundEmail.objects.get(to_email=handler.refused)
    assert failed.status == Status.FAILED and "550" in failed.last_error
    page = admin_client.get(change).content.decode()
    assert '<span id="count-sent">59</span>' in page
    assert '<span id="count-failed">1</span>' in page
    failures = page.split("broadcast-failures")[1]
    assert handler.refused in failures and "550" in failures and "No such user" in failures
    assert 'http-equiv="refresh"' not in page  # finished: no more refreshing
    assert "Retry the 1 failed" in page
    sample = next(m for m in handler.messages if "Before class" in str(m["Subject"]))
    assert sample["Reply-To"] == settings.TRAINING_ADMIN_EMAIL
    # Paced: 60 messages at 3000 a minute take at least 59 × 20 ms.
    assert elapsed >= 59 * 0.02
    # The address is fixed: "retry failed" sends that one message, and only it.
    handler.refused = "fixed-now@example.org"
    with mail_worker.start():
        admin_client.post(reverse("admin:registrations_broadcast_retry", args=[broadcast.pk]))
        wait_for(lambda: broadcasts.progress(broadcast).sent == 60, timeout=30)
    assert len(handler.messages) == 60
    assert getaddresses([str(handler.messages[-1]["To"])])[0][1] == "nobody@example.org"


@pytest.mark.django_db
def test_a_pump_for_a_broadcast_it_cannot_see_retries_then_fails(offering, monkeypatch, caplog):
    broadcast = Broadcast.objects.create(offering=offering, subject="Hi", body="Hi")
    missing = broadcast.pk
    broadcast.delete()
    retries: list[int] = []
    monkeypatch.setattr(emails, "row_retry_countdown", lambda n: retries.append(n) or 0.0)
    with helpers.eager_retries(), caplog.at_level("ERROR", logger="citreg.tasks"):
        failed = broadcasts.pump_broadcast.delay(missing)
    assert failed.state == "FAILURE" and isinstance(failed.result, emails.RowMissing)
    assert retries == [0, 1, 2, 3, 4]  # TASK_ROW_RETRIES, then the error
    assert f"task=registrations.pump_broadcast model=Broadcast id={missing}" in caplog.text


@pytest.mark.django_db
def test_a_broadcast_committed_after_the_pumps_first_attempt_is_pumped(offering, monkeypatch):
    broadcast = Broadcast.objects.create(offering=offering, subject="Hi", body="Hi")
    missing = broadcast.pk
    broadcast.delete()

    def committed_now(retries: int) -> float:
        Broadcast.objects.create(pk=missing, offering=offering, subject="Hi", body="Hi")
        return 2.0

    monkeypatch.setattr(emails, "row_retry_countdown", committed_now)
    with helpers.eager_retries():
        pumped = broadcasts.pump_broadcast.delay(missing)
    assert (pumped.state, pumped.result) == ("SUCCESS", 0)  # nothing queued yet: 0 published
    assert Broadcast.objects.get(pk=missing).pumped_at is not None


@pytest.mark.django_db
def test_queued_messages_of_a_deleted_broadcast_are_skipped_not_stuck(offering, monkeypatch):
    monkeypatch.setattr(broadcasts, "start_pump", lambda pk: None)
    for _ in range(2):
        registration_in(S.CONFIRMED, offering)
    broadcast = Broadcast.objects.create(offering=offering, subject="Hi", body="Hi")
    broadcasts.broadcast_send(broadcast, user=None)
    rows = broadcasts.batch_emails(broadcast)
    Broadcast.objects.filter(pk=broadcast.pk).delete()  # from a shell: the admin refuses

    assert broadcasts.broadcasts_restart_stalled(now=timezone.now() + timedelta(minutes=2)) == []
    assert {(row.status, row.last_error) for row in rows} == {
        (Status.SKIPPED, "Not sent: the email to attendees was deleted.")
    }
