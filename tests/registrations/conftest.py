"""Fixtures for tests that deliver through a real worker and SMTP server, and the Stripe
stand-in."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from celery.app.task import Task

from tests.services import ScriptedSMTPHandler, celery_worker, smtp_server, subprocess_env


@dataclass
class MailWorker:
    """A scripted SMTP server, the environment of project processes sending to it, and the
    Celery queue the worker listens on (tasks published by this process go there too)."""

    handler: ScriptedSMTPHandler
    env: dict[str, str]
    queue: str

    def start(self):
        """Context manager running the worker."""
        return celery_worker(self.env, self.queue)


@pytest.fixture
def mail_worker(settings, monkeypatch, celery_eager) -> Iterator[MailWorker]:
    from citreg.celery_app import app

    # Tasks go to the real worker, not inline (the suite runs tasks eagerly by default).
    app.conf.task_always_eager = False  # ``celery_eager`` sets it back after the test
    handler = ScriptedSMTPHandler()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    real_apply_async = Task.apply_async

    def apply_async(self, args=None, kwargs=None, **options):
        options.setdefault("queue", queue)
        return real_apply_async(self, args, kwargs, **options)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    with smtp_server(handler) as port:
        env = subprocess_env(
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            CELERY_TASK_DEFAULT_QUEUE=queue,
            EMAIL_URL=f"smtp://127.0.0.1:{port}",
            EMAIL_RETRY_BASE_SECONDS="0.3",
        )
        yield MailWorker(handler, env, queue)


@pytest.fixture
def agency(db):
    """Denver 911's domain, listed as a known agency domain."""
    from registrations.models import AgencyDomain

    return AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")


@pytest.fixture
def standin(settings):
    """The Stripe stand-in on a free port, with the app's Stripe settings pointed at it (events
    are recorded, not delivered: tests deliver them with ``stripe_helpers.deliver``)."""
    from tests.registrations.stripe_helpers import running_standin

    with running_standin(settings) as server:
        yield server
