"""End to end: a real Celery worker process on Redis, a real SMTP server on loopback (aiosmtpd).

Messages are queued by ``manage.py send_test_email`` in another process, as an operator would.
Each test uses its own Celery queue, so leftovers of other runs cannot interfere.
"""

import uuid
from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest

from registrations.messaging.models import OutboundEmail
from tests.services import (
    ScriptedSMTPHandler,
    celery_worker,
    redis_server,
    run_manage,
    smtp_server,
    subprocess_env,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundEmail.Status


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


def test_injected_bcc_in_name_creates_no_header(delivery):
    handler, env = delivery
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        send_test_email(env, "ana@example.org", "--name", "Ana\r\nBcc: thief@example.org")
        wait_for(lambda: handler.messages)
    message = handler.messages[0]
    assert message["Bcc"] is None
    assert [addr for _, addr in getaddresses([str(message["To"])])] == ["ana@example.org"]


def test_451_twice_then_accepted_is_sent_after_retries(delivery):
    handler, env = delivery
    handler.replies = ["451 4.3.0 Try again later"] * 2
    with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]):
        email = send_test_email(env, "ben@example.org")
        wait_for(lambda: row_status(email) == Status.SENT)
    assert handler.attempts == 3 and len(handler.messages) == 1
    assert email.attempts == 3


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
