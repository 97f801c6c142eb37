"""Helpers for registration tests: valid form data, the open offering, submitting the form and
confirming the work email, links from emails, the offering admin's form, a queued test email,
eager task retries."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from django.core import mail
from django.utils import timezone

from citreg.celery_app import app
from courses.models import Course, Offering
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from tests.factories import make_offering, next_date


def form_data(**overrides: str) -> dict[str, str]:
    """A valid registration POST; override any field."""
    data = {
        "first_name": "Ana",
        "last_name": "Test",
        "email": "ana.test+cit@denver911.example.gov",
        "phone": "303-555-0100",
        "role": "call_taker",
        "employer_name": "Denver 911 Emergency Communications",
        "employer_city": "Denver",
        "employer_state": "CO",
        "work_email": "ana.test@denver911.example.gov",
        "supervisor_name": "Sam Super",
        "supervisor_email": "sam.super@denver911.example.gov",
        "attest_employment": "on",
        "acknowledge_participation": "on",
        "accept_terms": "on",
        "accessibility_needs": "",
        "time_zone": "America/New_York",
    }
    data.update(overrides)
    return data


def open_offering(course: Course, first_day: date | None = None) -> Offering:
    """A published class a few months ahead, open for registration now."""
    return make_offering(course, first_day or next_date(7, 8))


def register_url(offering: Offering) -> str:
    return f"/courses/{offering.course.slug}/classes/{offering.pk}/register/"


def submit(client, offering, django_capture_on_commit_callbacks, **overrides):
    """POST the registration form (``form_data`` with ``overrides``), running on-commit work."""
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(register_url(offering), form_data(**overrides))


def open_link(client, path: str):
    """GET an emailed link's ``path`` as a browser does: the token is exchanged for a grant in
    the client's session and the answer redirects (303) to the page without it, which is
    returned (its ``request["PATH_INFO"]`` is the token-less path)."""
    response = client.get(path, follow=True)
    assert response.redirect_chain and response.redirect_chain[0][1] == 303, response
    return response


def confirm_work_email(client, to, django_capture_on_commit_callbacks):
    """Open the work-email link last sent to ``to`` (GET shows a button) and press it on the
    token-less page it leads to."""
    page = open_link(client, link_from_outbox(to, "/r/confirm/"))
    assert page.status_code == 200 and b"Confirm my work email" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(page.request["PATH_INFO"])


def links_in(message: mail.EmailMessage) -> list[str]:
    """Absolute URLs in a message's text body."""
    return re.findall(r"https?://\S+", message.body)


def path_of(url: str) -> str:
    """The path of an absolute site URL (the test client takes paths)."""
    return re.sub(r"^https?://[^/]+", "", url)


def link_from_outbox(to: str, fragment: str) -> str:
    """The path of the first link containing ``fragment`` in the latest message to ``to``."""
    for message in reversed(mail.outbox):
        if to in " ".join(message.to):
            for url in links_in(message):
                if fragment in url:
                    return path_of(url)
    raise AssertionError(f"no {fragment} link in mail to {to}: {[m.subject for m in mail.outbox]}")


# The change preview's confirmation (``courses.admin.CONFIRM_FIELD``).
CONFIRM = {"_confirm_update": "1"}


def change_form(offering, **changes) -> dict:
    """The offering admin's POST data for ``offering`` as stored, with ``changes``; session
    times shifted by ``changes["shift"]`` (a timedelta). Add ``CONFIRM`` to confirm a change of
    times or meeting link that the admin would otherwise preview first."""
    shift = changes.pop("shift", timedelta(0))
    local = timezone.get_current_timezone()

    def split(prefix: str, value) -> dict:
        value = value.astimezone(local)
        return {f"{prefix}_0": f"{value:%Y-%m-%d}", f"{prefix}_1": f"{value:%H:%M:%S}"}

    data = {
        "course": offering.course_id,
        "status": offering.status,
        "part_of_day": offering.part_of_day,
        "capacity": offering.capacity,
        "time_zone": offering.time_zone,
        "meeting_url": offering.meeting_url,
        **split("registration_opens_at", offering.registration_opens_at),
        **split("registration_closes_at", offering.registration_closes_at),
        "sessions-TOTAL_FORMS": "2",
        "sessions-INITIAL_FORMS": "2",
        "sessions-MIN_NUM_FORMS": "1",
        "sessions-MAX_NUM_FORMS": "1000",
    }
    for index, session in enumerate(offering.session_list):
        data[f"sessions-{index}-id"] = session.pk
        data[f"sessions-{index}-offering"] = offering.pk
        # A session is typed as a date and a start time in the class's zone (the end follows).
        start = (session.starts_at + shift).astimezone(offering.zone)
        data[f"sessions-{index}-day"] = f"{start:%Y-%m-%d}"
        data[f"sessions-{index}-start"] = f"{start:%H:%M:%S}"
    data.update(changes)
    return data


def queue_email(key: str = "test:1", **kwargs) -> OutboundEmail:
    """Queue a test message (``emails/test``) to ana@example.org unless ``to_email`` is given."""
    return outbox.email_queue(
        kind=outbox.TEST,
        to_email=kwargs.pop("to_email", "ana@example.org"),
        template="emails/test",
        context={"note": "", "queued_at": "now"},
        dedupe_key=key,
        **kwargs,
    ).email


@contextmanager
def eager_retries() -> Iterator[None]:
    """Eager tasks run their retries at once, as a worker would after each countdown (Celery
    applies a retry's signature inline when eager exceptions are not propagated); the final
    outcome, a return value or an exception, is in the task's result."""
    app.conf.task_eager_propagates = False
    try:
        yield
    finally:
        app.conf.task_eager_propagates = True
