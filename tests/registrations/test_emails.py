"""The email pipeline inside the test process: queuing, idempotency, races, failures, headers."""

import smtplib
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from email.utils import getaddresses
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail

Status = OutboundEmail.Status


def queue(key: str = "test:1", **kwargs) -> OutboundEmail:
    return emails.email_queue(
        kind=emails.TEST,
        to_email=kwargs.pop("to_email", "ana@example.org"),
        template="emails/test",
        context={"note": "", "queued_at": "now"},
        dedupe_key=key,
        **kwargs,
    ).email


@pytest.fixture
def published(monkeypatch):
    """Record the ids the pipeline publishes instead of sending them to the broker."""
    ids: list[int] = []
    monkeypatch.setattr(emails, "enqueue_send", lambda pk, countdown=0: ids.append(pk) or True)
    return ids


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(published):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue()
        raise RuntimeError("the registration failed")
    assert published == []
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_enqueued_only_after_commit_and_once_per_dedupe_key(published):
    with transaction.atomic():
        first = queue()
        assert published == []
    assert published == [first.pk]
    again = queue()
    assert again.pk == first.pk
    assert published == [first.pk]


@pytest.mark.django_db
def test_same_row_sent_twice_sends_one_message():
    email = queue()
    assert emails.email_send(email.pk).outcome == "sent"
    assert emails.email_send(email.pk).outcome == "already-done"
    assert len(mail.outbox) == 1
    email.refresh_from_db()
    assert email.status == Status.SENT and email.attempts == 1
    assert email.sent_at is not None and f".email{email.pk}@" in email.provider_message_id
    assert "test message" in email.text_body and "<p>" in email.html_body


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_row_send_one_message(published):
    email = queue()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    real_send = emails.EmailMultiAlternatives.send

    def slow_send(message, *args, **kwargs):
        threading.Event().wait(0.3)  # Hold the claim while the other worker tries.
        return real_send(message, *args, **kwargs)

    def worker():
        barrier.wait()
        try:
            outcomes.append(emails.email_send(email.pk).outcome)
        finally:
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
    email = queue()
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
    email = queue()
    error = smtplib.SMTPRecipientsRefused({"ana@example.org": (550, b"5.1.1 no such user")})
    with mock.patch.object(emails.EmailMultiAlternatives, "send", side_effect=error):
        assert emails.email_send(email.pk).outcome == "failed"
    assert emails.email_send(email.pk).outcome == "already-done"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.next_attempt_at) == (Status.FAILED, 1, None)


@pytest.mark.django_db
def test_header_injection_in_name_creates_no_header():
    email = queue(to_name="Ana\r\nBcc: thief@example.org")
    emails.email_send(email.pk)
    message = message_from_bytes(mail.outbox[0].message().as_bytes(), policy=policy.default)
    assert message["Bcc"] is None
    assert [addr for _, addr in getaddresses([str(message["To"])])] == ["ana@example.org"]
    assert mail.outbox[0].bcc == []


@pytest.mark.django_db
def test_sweeper_picks_up_lost_and_stuck_rows_only(published, settings):
    settings.EMAIL_SWEEP_GRACE_SECONDS = 30
    settings.EMAIL_SENDING_TIMEOUT_SECONDS = 300
    fresh = queue("test:fresh")
    lost = queue("test:lost")
    stuck = queue("test:stuck")
    done = queue("test:done")
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
    failed = queue("test:failed")
    OutboundEmail.objects.filter(pk=failed.pk).update(status=Status.FAILED, attempts=6)
    sent = queue("test:sent")
    OutboundEmail.objects.filter(pk=sent.pk).update(status=Status.SENT)
    assert emails.email_resend(failed) is True
    assert emails.email_resend(sent) is False
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.QUEUED, 0)


@pytest.mark.django_db
def test_email_status_command(capsys):
    queue("test:a")
    OutboundEmail.objects.filter(pk=queue("test:b").pk).update(status=Status.SENT)
    call_command("email_status")
    out = capsys.readouterr().out
    assert "queued     test" in out and "sent       test" in out
    assert "Oldest queued: #" in out


@pytest.mark.django_db
def test_admin_send_again_action(admin_client, published):
    failed = queue("test:failed")
    OutboundEmail.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    response = admin_client.post(
        "/admin/registrations/outboundemail/",
        {"action": "send_again", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert "1 message(s) queued again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED
