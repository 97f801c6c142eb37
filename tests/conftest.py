"""Shared fixtures: the repository's schedule files and the default course."""

from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import settings

from courses.models import Course

REPO = Path(__file__).resolve().parent.parent
SCHEDULES = REPO / "courses" / "schedules"
# The schedules exactly as the training organisation published them (courses/schedules/ must match).
PUBLISHED_SCHEDULES = REPO / "tests" / "courses" / "data"

# Property tests share two cores with PostgreSQL, Redis and sometimes a browser: no per-example
# time limit (a slow example is not a failure).
settings.register_profile("citreg", deadline=None)
settings.load_profile("citreg")

# Real-browser fixtures (``open_page``, ``browser``) and the failure-artifact hook; the demo
# attendance class (``december_class``, ``attendees``, the two reports).
pytest_plugins = ["tests.browser.plugin", "tests.attendance_fixtures"]


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts a real Celery worker or SMTP server")
    config.addinivalue_line(
        "markers",
        "drill: a fault drill (tests/drills/): starts its own Redis, worker, beat, web and SMTP "
        "sink, breaks one of them and checks that nothing is lost",
    )


@pytest.fixture
def schedule_2024() -> Path:
    return SCHEDULES / "cit-911-schedule-2024.txt"


@pytest.fixture
def schedule_2027() -> Path:
    return SCHEDULES / "cit-911-schedule-2027.txt"


@pytest.fixture
def course(db) -> Course:
    """The CIT course as shipped in the repository's fixture."""
    call_command("loaddata", "default_course", verbosity=0)
    return Course.objects.get(slug=Course.DEFAULT_SLUG)


@pytest.fixture(autouse=True)
def celery_eager():
    """Run Celery tasks inline in the test process (emails land in ``mail.outbox``).

    Tests of real delivery start a worker process instead and publish from other processes.
    """
    from citreg.celery_app import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False
