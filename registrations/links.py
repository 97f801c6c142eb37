"""Signed, expiring links for attendees and supervisors (no accounts).

Each link carries a payload signed with ``SECRET_KEY`` under its own salt (Django's
``django.core.signing``), so a link made for one purpose cannot be used for another, and a
changed address invalidates links made for the old one. Links never act on GET (see the views).
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Registration

WORK_EMAIL = "registrations.confirm-work-email"
NEW_EMAIL = "registrations.confirm-new-email"
SUPERVISOR = "registrations.supervisor-confirmation"
MANAGE = "registrations.manage"

EMAIL_LINK_MAX_AGE = timedelta(hours=48)
SUPERVISOR_LINK_MAX_AGE = timedelta(days=7)
MANAGE_LINK_GRACE = timedelta(days=30)


class LinkError(Exception):
    """A link that cannot be used. ``expired`` is True when it was genuine but too old."""

    def __init__(self, message: str, *, expired: bool = False):
        self.expired = expired
        super().__init__(message)


@dataclass(frozen=True)
class LinkTarget:
    """What a valid link points at: the registration and the address it was made for."""

    registration: Registration
    address: str


def _absolute(name: str, token: str) -> str:
    return f"{settings.SITE_URL}{reverse(name, kwargs={'token': token})}"


def _fingerprint(address: str) -> str:
    """A short keyed hash of an address: links name it without showing it (tokens are signed,
    not encrypted, so anything in them can be read)."""
    if not address:
        return ""
    return signing.Signer(salt="registrations.address").signature(address.lower())[:16]


def _make(purpose: str, registration: Registration, address: str = "", **extra: int) -> str:
    return signing.dumps({"r": registration.pk, "a": _fingerprint(address), **extra}, salt=purpose)


def _read(purpose: str, token: str, max_age: timedelta | None) -> dict:
    try:
        return signing.loads(token, salt=purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise LinkError("This link has expired.", expired=True) from exc
    except signing.BadSignature as exc:
        raise LinkError("This link is not valid. It may be incomplete or altered.") from exc


def _registration(payload: dict) -> Registration:
    registration = (
        Registration.objects.select_related("offering__course")
        .filter(pk=int(payload.get("r") or 0))
        .first()
    )
    if registration is None:
        raise LinkError("This link is for a registration that no longer exists.")
    return registration


def work_email_url(registration: Registration) -> str:
    """Absolute URL confirming ``registration.work_email``; valid 48 hours."""
    token = _make(WORK_EMAIL, registration, registration.work_email)
    return _absolute("registrations:confirm-work-email", token)


def new_email_url(registration: Registration) -> str:
    """Absolute URL confirming ``registration.pending_email`` as the course email; 48 hours."""
    token = _make(NEW_EMAIL, registration, registration.pending_email)
    return _absolute("registrations:confirm-new-email", token)


def supervisor_url(registration: Registration) -> str:
    """Absolute URL for the supervisor to confirm employment; valid 7 days."""
    token = _make(SUPERVISOR, registration, registration.supervisor_email)
    return _absolute("registrations:supervisor-confirm", token)


def manage_path(registration: Registration) -> str:
    """Path of the attendee's manage page; valid until 30 days after the offering ends (or 30
    days from now if the offering has no sessions yet)."""
    ends_at = registration.offering.ends_at()
    until = (ends_at.timestamp() if ends_at else time.time()) + MANAGE_LINK_GRACE.total_seconds()
    token = _make(MANAGE, registration, registration.email, until=int(until))
    return reverse("registrations:manage", kwargs={"token": token})


def manage_url(registration: Registration) -> str:
    """Absolute URL of the attendee's manage page (for emails); see ``manage_path``."""
    return f"{settings.SITE_URL}{manage_path(registration)}"


def read_link(purpose: str, token: str) -> LinkTarget:
    """Check a token made by this module for ``purpose``.

    Returns: the ``LinkTarget``.
    Raises: LinkError — tampered, expired, for a deleted registration, or made for an address
    the registration no longer has (the address changed since).
    """
    max_age = {
        WORK_EMAIL: EMAIL_LINK_MAX_AGE,
        NEW_EMAIL: EMAIL_LINK_MAX_AGE,
        SUPERVISOR: SUPERVISOR_LINK_MAX_AGE,
        MANAGE: None,
    }[purpose]
    payload = _read(purpose, token, max_age)
    if purpose == MANAGE and payload.get("until", 0) < time.time():
        raise LinkError("This link has expired.", expired=True)
    registration = _registration(payload)
    current = {
        WORK_EMAIL: registration.work_email,
        NEW_EMAIL: registration.pending_email,
        SUPERVISOR: registration.supervisor_email,
        MANAGE: registration.email,
    }[purpose]
    if payload.get("a", "") != _fingerprint(current):
        raise LinkError("This link was made for an address that has since changed.", expired=True)
    return LinkTarget(registration, current)
