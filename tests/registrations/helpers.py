"""Helpers for registration tests: valid form data, the open offering, links from emails."""

import re
from datetime import date

from django.core import mail

from courses.models import Course, Offering
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
