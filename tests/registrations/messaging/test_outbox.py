"""``registrations.messaging.outbox``: queuing after commit, sending once, classifying failures,
retries, the sweeper, headers; and end to end through a real Celery worker and SMTP server.

The end-to-end tests queue with ``manage.py send_test_email`` in another process, as an operator
would; each uses its own Celery queue, so leftovers of other runs cannot interfere.
"""

import importlib
import smtplib
import threading
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import getaddresses
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.apps import apps
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from courses.models import Offering
from registrations import links
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import email_send
from registrations.models import AgencyDomain, Registration
from tests.factories import registration_in
from tests.registrations import helpers
from tests.registrations.helpers import open_offering, queue_email, submit
from tests.services import (
    ScriptedSMTPHandler,
    celery_worker,
    redis_server,
    run_manage,
    smtp_server,
    subprocess_env,
    wait_for,
)

Status = OutboundEmail.Status


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(published):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_email()
        raise RuntimeError("the registration failed")
    assert published == []
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_enqueued_only_after_commit_and_once_per_dedupe_key(published):
    with transaction.atomic():
        first = queue_email()
        assert published == []
    assert published == [first.pk]
    again = queue_email()
    assert again.pk == first.pk
    assert published == [first.pk]


@pytest.mark.django_db
def test_same_row_sent_twice_sends_one_message():
    email = queue_email()
    assert emails.email_send(email.pk).outcome == "sent"
    assert emails.email_send(email.pk).outcome == "already-done"
    assert len(mail.outbox) == 1
    email.refresh_from_db()
    assert email.status == Status.SENT and email.attempts == 1
    assert email.sent_at is not None and f".email{email.pk}@" in email.provider_message_id
    assert "test message" in email.text_body and "<p>" in email.html_body


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_row_send_one_message(published):
    email = queue_email()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    other_done = threading.Event()  # a worker has its outcome
    real_send = emails.EmailMultiAlternatives.send

    def slow_send(message, *args, **kwargs):
        other_done.wait(5)  # Hold the claim until the other worker has tried.
        return real_send(message, *args, **kwargs)

    def worker():
        barrier.wait()
        try:
            outcomes.append(emails.email_send(email.pk).outcome)
        finally:
            other_done.set()
            connection.close()

    with mock.patch.object(emails.EmailMultiAlternatives, "send", slow_send):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert sorted(outcomes) == ["already-done", "sent"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (smtplib.SMTPDataError(451, b"4.3.0 try later"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPDataError(550, b"5.7.1 rejected"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")}), False),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (450, b"mailbox busy")}), True),
        (smtplib.SMTPSenderRefused(553, b"bad sender", "x@example.org"), False),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), False),
    ],
)
def test_failures_are_classified(error, temporary):
    assert emails.is_temporary(error) is temporary


@pytest.mark.django_db
def test_temporary_failure_backs_off_then_fails_at_the_limit(settings):
    settings.EMAIL_MAX_ATTEMPTS = 3
    settings.EMAIL_RETRY_BASE_SECONDS = 2
    email = queue_email()
    error = smtplib.SMTPDataError(451, b"4.3.0 try later")
    with mock.patch.object(emails.EmailMultiAlternatives, "send", side_effect=error):
        first = emails.email_send(email.pk)
        email.refresh_from_db()
        assert (first.outcome, first.retry_in, email.status) == ("retry", 2, Status.QUEUED)
        assert email.next_attempt_at > timezone.now() + timedelta(seconds=1)
        assert "451" in email.last_error
        assert emails.email_send(email.pk).retry_in == 4
        assert emails.email_send(email.pk).outcome == "failed"
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.FAILED, 3)


@pytest.mark.django_db
def test_permanent_failure_is_not_retried():
    email = queue_email()
    error = smtplib.SMTPRecipientsRefused({"ana@example.org": (550, b"5.1.1 no such user")})
    with mock.patch.object(emails.EmailMultiAlternatives, "send", side_effect=error):
        assert emails.email_send(email.pk).outcome == "failed"
    assert emails.email_send(email.pk).outcome == "already-done"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.next_attempt_at) == (Status.FAILED, 1, None)


@pytest.mark.django_db
def test_header_injection_in_name_creates_no_header():
    email = queue_email(to_name="Ana\r\nBcc: thief@example.org")
    emails.email_send(email.pk)
    message = message_from_bytes(mail.outbox[0].message().as_bytes(), policy=policy.default)
    assert message["Bcc"] is None
    assert [addr for _, addr in getaddresses([str(message["To"])])] == ["ana@example.org"]
    assert mail.outbox[0].bcc == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "Zoë, O'Brien",  # a non-ASCII name with a comma was two mailboxes, "Zoë" and "O'Brien"
        '"><b x="' * 6,  # a quoted name longer than a line lost its quotes when folded
        "Ana (x) " * 12,  # ... and its parentheses became comments
        "Ana\x1b[31m Test\u202e",  # controls and bidi overrides go
    ],
)
@pytest.mark.parametrize("smtp", [False, True], ids=["default", "smtp policy"])
def test_a_typed_name_is_one_mailbox_in_the_to_header(name, smtp):
    email = queue_email(to_name=name)
    assert emails.email_send(email.pk).outcome == "sent"
    raw = mail.outbox[0].message(policy=policy.SMTP if smtp else policy.default).as_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    [mailbox] = message["To"].addresses
    assert mailbox.addr_spec == "ana@example.org"
    shown = "".join(mailbox.display_name.split())
    assert shown == "".join(emails.clean_header(name).split())
    assert all(len(line) <= 78 for line in raw.split(b"\r\n" if smtp else b"\n")[:12])


def _test_email(**fields) -> OutboundEmail:
    """A test-kind message with its own template and context."""
    defaults = {"template": "emails/test", "context": {"note": "", "queued_at": "now"}}
    return emails.email_queue(
        kind=emails.TEST, to_email="ana@example.org", dedupe_key=f"test:{uuid.uuid4().hex}",
        **{**defaults, **fields},
    ).email  # fmt: skip


@pytest.mark.django_db
def test_a_long_mixed_subject_arrives_whole():
    """Python 3.12's header folding cut an encoded word of such a subject in two."""
    note = "Subject: hostile 000 ¡ " * 12
    email = _test_email(context={"note": note, "queued_at": "now"})
    assert emails.email_send(email.pk).outcome == "sent"
    message = message_from_bytes(mail.outbox[0].message().as_bytes(), policy=policy.default)
    sent = mail.outbox[0].subject
    assert len(sent) <= emails.SUBJECT_MAX and sent.endswith("\u2026")
    assert str(message["Subject"]) == sent


@pytest.mark.django_db
def test_a_subject_with_nothing_visible_is_the_organisation_name(settings):
    email = _test_email(
        template="emails/broadcast", context={"subject": "\r\n\u200b", "body": "Hi"}
    )
    assert emails.email_send(email.pk).outcome == "sent"
    assert mail.outbox[0].subject == settings.ORGANISATION_NAME


@pytest.mark.django_db
def test_bodies_keep_lines_and_lose_other_controls():
    email = _test_email(context={"note": "x", "queued_at": "a\r\nb\x1b[31m\x0bc"})
    assert emails.email_send(email.pk).outcome == "sent"
    email.refresh_from_db()
    for body in (email.text_body, email.html_body):
        assert "\x1b" not in body and "\x0b" not in body and "\r" not in body


@pytest.mark.django_db
def test_sweeper_picks_up_lost_and_stuck_rows_only(published, settings):
    settings.EMAIL_SWEEP_GRACE_SECONDS = 30
    settings.EMAIL_SENDING_TIMEOUT_SECONDS = 300
    fresh = queue_email("test:fresh")
    lost = queue_email("test:lost")
    stuck = queue_email("test:stuck")
    done = queue_email("test:done")
    now = timezone.now()
    OutboundEmail.objects.filter(pk=lost.pk).update(next_attempt_at=now - timedelta(minutes=2))
    OutboundEmail.objects.filter(pk=stuck.pk).update(
        status=Status.SENDING, sending_started_at=now - timedelta(minutes=10)
    )
    OutboundEmail.objects.filter(pk=done.pk).update(
        status=Status.SENT, next_attempt_at=now - timedelta(minutes=2)
    )
    published.clear()
    assert emails.email_sweep(now) == 2
    assert sorted(published) == sorted([lost.pk, stuck.pk])
    assert fresh.pk not in published
    # The stuck row is taken over by the next task (its worker died mid-send).
    assert emails.email_send(stuck.pk).outcome == "sent"


@pytest.mark.django_db
def test_send_again_requeues_failed_rows_only(published):
    failed = queue_email("test:failed")
    OutboundEmail.objects.filter(pk=failed.pk).update(status=Status.FAILED, attempts=6)
    sent = queue_email("test:sent")
    OutboundEmail.objects.filter(pk=sent.pk).update(status=Status.SENT)
    assert emails.email_resend(failed) is True
    assert emails.email_resend(sent) is False
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.QUEUED, 0)


@pytest.mark.django_db
def test_stuck_message_is_not_resent_forever(offering, settings):
    from datetime import timedelta

    from django.utils import timezone

    from registrations.messaging.outbox import email_queue

    email = email_queue(kind="test", to_email="a@example.org", template="emails/test",
                        dedupe_key="stuck", context={"queued_at": "now"}).email  # fmt: skip
    OutboundEmail.objects.filter(pk=email.pk).update(
        status="sending", attempts=settings.EMAIL_MAX_ATTEMPTS,
        sending_started_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    assert email_send(email.pk).outcome == "already-done"
    email.refresh_from_db()
    assert email.status == "failed" and not mail.outbox


@pytest.mark.django_db
def test_longest_names_register_and_their_emails_send(
    client, offering, django_capture_on_commit_callbacks
):
    AgencyDomain.objects.create(domain="other-psap.example.gov", agency_name="Other")
    response = submit(
        client, offering, django_capture_on_commit_callbacks,
        first_name="Ä" * 150, last_name="Ø" * 150, employer_name="Center " * 28,
        work_email="x@county.example.org", supervisor_email="boss@other-psap.example.gov",
    )  # fmt: skip
    assert response.status_code == 302
    registration = Registration.objects.get()
    from registrations.eligibility import work_email_confirm

    with django_capture_on_commit_callbacks(execute=True):
        work_email_confirm(registration)
    supervisor = OutboundEmail.objects.get(kind="supervisor_confirmation")
    assert supervisor.status == "sent" and len(supervisor.subject) <= 200
    assert supervisor.subject.endswith("\u2026")
    assert all(email.status == "sent" for email in OutboundEmail.objects.all())


# --- end to end: a real worker on Redis, a real SMTP server (aiosmtpd) ---------------------------


@pytest.fixture
def delivery(settings):
    """Yield ``(handler, env)``: a scripted SMTP server and the environment for project
    processes (worker and commands) that sends to it through the test Redis broker."""
    handler = ScriptedSMTPHandler()
    with smtp_server(handler) as port:
        env = subprocess_env(
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_TASK_DEFAULT_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
            EMAIL_URL=f"smtp://127.0.0.1:{port}",
            EMAIL_RETRY_BASE_SECONDS="0.5",
        )
        yield handler, env


def send_test_email(env, address: str, *args: str) -> OutboundEmail:
    result = run_manage("send_test_email", address, *args, env=env)
    assert result.returncode == 0, result.stderr
    return OutboundEmail.objects.get(to_email=address)


def row_status(email: OutboundEmail) -> str:
    email.refresh_from_db()
    return email.status


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_message_arrives_multipart_with_utf8_name_and_subject(delivery):
    handler, env = delivery
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        email = send_test_email(
            env, "zoe@example.org", "--name", "Zoë Ångström", "--note", "Café ☕"
        )
        wait_for(lambda: handler.messages)
        wait_for(lambda: row_status(email) == Status.SENT)
    message = handler.messages[0]
    assert str(make_header(decode_header(message["Subject"]))).endswith(": Café ☕")
    [(name, address)] = getaddresses([str(message["To"])])
    assert (name, address) == ("Zoë Ångström", "zoe@example.org")
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "Hello Zoë Ångström" in parts["text/plain"]
    assert "<p>Hello Zoë Ångström,</p>" in parts["text/html"]
    assert message["Message-ID"] == email.provider_message_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_injected_bcc_in_name_creates_no_header(delivery):
    handler, env = delivery
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        send_test_email(env, "ana@example.org", "--name", "Ana\r\nBcc: thief@example.org")
        wait_for(lambda: handler.messages)
    message = handler.messages[0]
    assert message["Bcc"] is None
    assert [addr for _, addr in getaddresses([str(message["To"])])] == ["ana@example.org"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_451_twice_then_accepted_is_sent_after_retries(delivery):
    handler, env = delivery
    handler.replies = ["451 4.3.0 Try again later"] * 2
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        email = send_test_email(env, "ben@example.org")
        wait_for(lambda: row_status(email) == Status.SENT)
    assert handler.attempts == 3 and len(handler.messages) == 1
    assert email.attempts == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_550_is_failed_and_not_retried(delivery):
    handler, env = delivery
    handler.replies = ["550 5.1.1 No such user"]
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        email = send_test_email(env, "nobody@example.org")
        wait_for(lambda: row_status(email) == Status.FAILED)
        assert "550" in email.last_error
        # Give a wrongly scheduled retry time to happen: none does.
        run_manage("email_status", env=env)
    assert handler.attempts == 1 and handler.messages == []
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.FAILED, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_broker_down_queues_anyway_and_sweeper_sends_once_it_is_back(delivery):
    handler, env = delivery
    with redis_server() as port:
        pass  # Started and stopped: nothing listens on this port now.
    broker = f"redis://127.0.0.1:{port}/0"
    down_env = {**env, "CELERY_BROKER_URL": broker}
    email = send_test_email(down_env, "cara@example.org")  # returns; does not raise
    assert row_status(email) == Status.QUEUED
    assert handler.messages == []
    with redis_server(port), celery_worker(down_env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        sweep = run_manage(
            "shell",
            "--no-imports",
            "-c",
            "from registrations.messaging.outbox import email_sweep; print(email_sweep())",
            env={**down_env, "EMAIL_SWEEP_GRACE_SECONDS": "0"},
        )
        assert sweep.returncode == 0, sweep.stderr
        assert sweep.stdout.strip() == "1"
        wait_for(lambda: row_status(email) == Status.SENT)
        # A second sweep finds nothing; the message went out once.
        again = run_manage(
            "shell",
            "--no-imports",
            "-c",
            "from registrations.messaging.outbox import email_sweep; print(email_sweep())",
            env={**down_env, "EMAIL_SWEEP_GRACE_SECONDS": "0"},
        )
        assert again.stdout.strip() == "0"
    assert len(handler.messages) == 1


# --- no bearer token in the outbox ---------------------------------------------------------------

SAFE_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=":"), max_size=80)


@pytest.fixture
def registration(offering) -> Registration:
    return registration_in(Registration.State.ELIGIBLE, offering)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=SAFE_TEXT, after=SAFE_TEXT, path=st.sampled_from(["", "payment/", "leave-waitlist/"]))
def test_redaction_removes_every_personal_link_and_keeps_the_rest(
    registration, before, after, path
):
    link = links.manage_url(registration) + path
    token = link.split("/r/manage/")[1].split("/")[0]
    text = f'{before} {link} {after}\n<a href="{link}">x</a> token={token}'
    redacted = emails.redact_secrets(text)
    assert redacted.startswith(f"{before} {emails.PERSONAL_LINK} {after}\n")
    assert f'<a href="{emails.PERSONAL_LINK}">x</a>' in redacted
    assert redacted.endswith(f"token={emails.PERSONAL_LINK}")
    assert not any(emails._SIGNED.search(part) for part in redacted.split(emails.PERSONAL_LINK))


@given(text=st.text(max_size=200))
def test_text_without_a_signed_value_is_left_alone(text):
    assume(emails._SIGNED.search(text) is None)
    assert emails.redact_secrets(text) == text
    meeting = "https://meet.example.org/j/123?pwd=abc:def"
    assert emails.redact_secrets(f"{text} {meeting}") == f"{text} {meeting}"


@pytest.mark.django_db
def test_the_outbox_stores_no_personal_link(registration, published, caplog):
    link = links.manage_url(registration)
    row = emails.email_queue(
        kind=emails.TEST, to_email="ana@example.org", template="emails/test",
        context={"note": f"Your page: {link}", "queued_at": "now", "nested": [{"u": link}]},
        dedupe_key="test:link",
    ).email  # fmt: skip
    assert "email.context_had_personal_link kind=test" in caplog.text
    row.refresh_from_db()
    assert row.context["note"] == f"Your page: {emails.PERSONAL_LINK}"
    assert row.context["nested"] == [{"u": emails.PERSONAL_LINK}]
    # A kind that makes its link at sending time: it goes out, and is not kept.
    emails.KINDS["test"] = emails.MessageKind(
        "test", "Test message", refresh_context=lambda email: {**email.context, "queued_at": link}
    )
    try:
        assert email_send(row.pk).outcome == "sent"
    finally:
        emails.register_kind("test", "Test message")
    assert link in mail.outbox[-1].body
    row.refresh_from_db()
    assert link not in row.text_body + row.html_body + str(row.context)
    assert emails.PERSONAL_LINK in row.text_body


@pytest.mark.django_db
def test_rows_stored_before_redaction_are_redacted_by_the_migration(registration):
    migration = importlib.import_module("registrations.migrations.0003_staff_access")
    link = links.manage_url(registration)
    old = OutboundEmail.objects.create(
        kind="manage_link", dedupe_key="old", to_email="ana@example.org", status="sent",
        template="emails/manage_link", text_body=f"Open {link} now", html_body=f'<a href="{link}">',
        context={"manage_url": link, "first_name": "Ana"},
    )  # fmt: skip
    clean = queue_email("test:clean")
    before = OutboundEmail.objects.get(pk=clean.pk).updated_at
    migration.redact_stored_emails(apps, None)
    migration.redact_stored_emails(apps, None)  # again: nothing more to do
    old.refresh_from_db()
    assert old.text_body == f"Open {emails.PERSONAL_LINK} now"
    assert old.html_body == f'<a href="{emails.PERSONAL_LINK}">'
    assert old.context == {"manage_url": emails.PERSONAL_LINK, "first_name": "Ana"}
    assert OutboundEmail.objects.get(pk=clean.pk).updated_at == before


# --------------------------------------------------- a task handed an id it cannot see


@pytest.fixture
def eager_retries():
    with helpers.eager_retries():
        yield


def recording_countdowns(monkeypatch, on_first=None) -> list[float]:
    """Record each retry's backoff; ``on_first`` runs when the first retry is scheduled (as if
    the row's transaction committed then)."""
    countdowns: list[float] = []
    real = emails.row_retry_countdown

    def countdown(retries: int) -> float:
        if not countdowns and on_first is not None:
            on_first()
        countdowns.append(real(retries))
        return countdowns[-1]

    monkeypatch.setattr(emails, "row_retry_countdown", countdown)
    return countdowns


@pytest.mark.django_db
def test_a_missing_email_row_is_retried_with_backoff_then_logged_and_failed(
    monkeypatch, caplog, settings, eager_retries
):
    settings.TASK_ROW_RETRIES = 5
    countdowns = recording_countdowns(monkeypatch)
    with caplog.at_level("WARNING", logger="citreg.tasks"):
        result = emails.send_outbound_email.delay(424242)
    assert result.state == "FAILURE"  # never reported as done
    assert isinstance(result.result, emails.RowMissing)
    assert "no OutboundEmail with id 424242" in str(result.result)
    assert countdowns == [2.0, 4.0, 8.0, 16.0, 32.0]
    [error] = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "citreg.tasks"]
    assert error.getMessage() == (
        "task.row_missing task=registrations.send_outbound_email model=OutboundEmail "
        "id=424242 attempts=6"
    )
    assert len(mail.outbox) == 0


@pytest.mark.django_db
def test_an_email_row_committed_after_the_first_attempt_is_sent_by_a_retry(
    monkeypatch, eager_retries
):
    email = queue_email()
    fields = {
        field.name: getattr(email, field.name)
        for field in OutboundEmail._meta.concrete_fields
        if field.name not in ("created_at", "updated_at")
    }
    email.delete()
    countdowns = recording_countdowns(
        monkeypatch, on_first=lambda: OutboundEmail.objects.create(**fields)
    )

    assert emails.send_outbound_email.delay(fields["id"]).get() == "sent"
    assert countdowns == [2.0]
    assert len(mail.outbox) == 1
    assert OutboundEmail.objects.get(pk=fields["id"]).status == Status.SENT


def test_the_task_raises_retry_when_its_row_is_missing(settings):
    """Outside eager mode the worker gets Celery's Retry (the message is published again after
    the countdown) and nothing is recorded as done."""
    task = emails.send_outbound_email
    task.push_request(retries=0, called_directly=False, is_eager=False, id="t-1")
    try:
        with mock.patch.object(emails, "email_send", return_value=emails.SendResult("missing")):
            with mock.patch.object(task, "retry", side_effect=Retry("again", when=2.0)) as retry:
                with pytest.raises(Retry):
                    task.run(7)
    finally:
        task.pop_request()
    retry.assert_called_once_with(countdown=2.0, max_retries=settings.TASK_ROW_RETRIES)
