"""Signed, expiring links for attendees and supervisors (no accounts), and the session grants
they are exchanged for.

Each link carries a payload signed with ``SECRET_KEY`` under its own salt (Django's
``django.core.signing``), so a link made for one purpose cannot be used for another, and a
changed address invalidates links made for the old one. Links never act on GET (see the views).

A link's token appears in one request only: opening it (``read_link``) records a **grant** in the
browser's Django session (``grant``): the registration, the purpose, the fingerprint of the
address the token was made for and the token's own expiry. The views then redirect to a page
without the token (``page_path``), which works only while that session holds a grant
(``read_grant``) that is still valid: unexpired, for a registration that still has the same
address. One session may hold several grants (several registrations, several purposes); a grant
opens only the pages of its own purpose, so a supervisor's grant never opens the manage page.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
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

# Where the grants live in ``request.session``: {"<purpose>:<registration id>": {"a": address
# fingerprint, "until": expiry in Unix seconds}}.
GRANTS_SESSION_KEY = "registrations.grants"

# The page (URL name, taking the registration id as ``pk``) each purpose's link redirects to.
PAGES = {
    WORK_EMAIL: "registrations:confirm-work-email-page",
    NEW_EMAIL: "registrations:confirm-new-email-page",
    SUPERVISOR: "registrations:supervisor-confirm-page",
    MANAGE: "registrations:manage-page",
}
_MAX_AGE = {
    WORK_EMAIL: EMAIL_LINK_MAX_AGE,
    NEW_EMAIL: EMAIL_LINK_MAX_AGE,
    SUPERVISOR: SUPERVISOR_LINK_MAX_AGE,
    MANAGE: None,  # manage tokens carry their own ``until``
}


class LinkError(Exception):
    """A link that cannot be used. ``expired`` is True when it was genuine but too old."""

    def __init__(self, message: str, *, expired: bool = False):
        self.expired = expired
        super().__init__(message)


class NoGrant(LinkError):
    """A token-less page opened in a browser session that holds no grant for it."""


@dataclass(frozen=True)
class LinkTarget:
    """What a valid link or grant points at: the registration, the address it was made for, and
    when it stops working (Unix seconds)."""

    registration: Registration
    address: str
    expires_at: float


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


def _read(purpose: str, token: str) -> tuple[dict, float]:
    """The verified payload of ``token`` and when it expires (Unix seconds): a purpose without
    a maximum age (the manage link, object links) carries its own ``until``."""
    max_age = _MAX_AGE.get(purpose)
    try:
        payload = signing.loads(token, salt=purpose, max_age=max_age)
        if max_age is None:
            expires_at = float(payload.get("until", 0))
        else:
            # The signed value is "<payload>:<base62 timestamp>" (``signing.TimestampSigner``).
            issued = signing.b62_decode(signing.Signer(salt=purpose).unsign(token).rsplit(":")[-1])
            expires_at = issued + max_age.total_seconds()
    except signing.SignatureExpired as exc:
        raise LinkError("This link has expired.", expired=True) from exc
    except signing.BadSignature as exc:
        raise LinkError("This link is not valid. It may be incomplete or altered.") from exc
    if expires_at < time.time():
        raise LinkError("This link has expired.", expired=True)
    return payload, expires_at


def _registration(pk: int) -> Registration:
    registration = Registration.objects.select_related("offering__course").filter(pk=pk).first()
    if registration is None:
        raise LinkError("This link is for a registration that no longer exists.")
    return registration


def _target(purpose: str, pk: int, fingerprint: object, expires_at: float) -> LinkTarget:
    """The registration ``pk`` if its current address for ``purpose`` still has
    ``fingerprint``; raises LinkError otherwise."""
    registration = _registration(pk)
    current = {
        WORK_EMAIL: registration.work_email,
        NEW_EMAIL: registration.pending_email,
        SUPERVISOR: registration.supervisor_email,
        MANAGE: registration.email,
    }[purpose]
    if fingerprint != _fingerprint(current):
        raise LinkError("This link was made for an address that has since changed.", expired=True)
    return LinkTarget(registration, current, expires_at)


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


def _manage_until(registration: Registration) -> int:
    """When a manage link made now expires (Unix seconds): 30 days after the offering ends, or
    30 days from now if the offering has no sessions yet."""
    ends_at = registration.offering.ends_at()
    start = ends_at.timestamp() if ends_at else time.time()
    return int(start + MANAGE_LINK_GRACE.total_seconds())


def manage_path(registration: Registration) -> str:
    """Path of the attendee's manage link (with its token); valid until 30 days after the
    offering ends (or 30 days from now if the offering has no sessions yet)."""
    token = _make(MANAGE, registration, registration.email, until=_manage_until(registration))
    return reverse("registrations:manage", kwargs={"token": token})


def manage_url(registration: Registration) -> str:
    """Absolute URL of the attendee's manage link (for emails); see ``manage_path``."""
    return f"{settings.SITE_URL}{manage_path(registration)}"


def page_path(purpose: str, registration: Registration) -> str:
    """Path of the token-less page a link of ``purpose`` redirects to (``PAGES``); it opens only
    in a session holding a grant for it."""
    return reverse(PAGES[purpose], kwargs={"pk": registration.pk})


def manage_page_path(registration: Registration) -> str:
    """Path of the token-less manage page (``/r/manage/<id>/``)."""
    return page_path(MANAGE, registration)


def read_link(purpose: str, token: str) -> LinkTarget:
    """Check a token made by this module for ``purpose``.

    Returns: the ``LinkTarget`` (with the token's expiry).
    Raises: LinkError — tampered, expired, for a deleted registration, or made for an address
    the registration no longer has (the address changed since).
    """
    payload, expires_at = _read(purpose, token)
    return _target(purpose, int(payload.get("r") or 0), payload.get("a", ""), expires_at)


def _grants(session: SessionBase) -> dict[str, dict]:
    grants = session.get(GRANTS_SESSION_KEY)
    return grants if isinstance(grants, dict) else {}


def grant(session: SessionBase, purpose: str, target: LinkTarget) -> None:
    """Record in the browser's session that it opened a valid link of ``purpose`` for
    ``target``: the registration, the address fingerprint and the expiry the token had.

    Renews the session key (a session planted in the browser beforehand learns nothing) and
    drops grants that have expired. A later grant of the same purpose and registration replaces
    the earlier one.
    """
    now = time.time()
    grants = {key: value for key, value in _grants(session).items() if value["until"] >= now}
    grants[f"{purpose}:{target.registration.pk}"] = {
        "a": _fingerprint(target.address),
        "until": int(target.expires_at),
    }
    session.cycle_key()
    session[GRANTS_SESSION_KEY] = grants


def grant_manage(session: SessionBase, registration: Registration) -> None:
    """Grant this session the manage page, as a fresh manage link would (after the attendee
    confirmed an address with another link)."""
    grant(
        session,
        MANAGE,
        LinkTarget(registration, registration.email, float(_manage_until(registration))),
    )


def read_grant(session: SessionBase, purpose: str, registration_id: int) -> LinkTarget:
    """The registration this session may open for ``purpose``.

    Raises: NoGrant — the session holds no grant for this registration and purpose (the same
    for a registration that does not exist); LinkError — the grant expired, its registration
    was deleted, or the address it was made for has changed.
    """
    entry = _grants(session).get(f"{purpose}:{registration_id}")
    if not isinstance(entry, dict):
        raise NoGrant(
            "This page opens only in the browser where you opened the link from your email."
        )
    until = float(entry.get("until", 0))
    if until < time.time():
        raise LinkError("The link you opened for this page has expired.", expired=True)
    return _target(purpose, registration_id, entry.get("a", ""), until)


# Links to one object that is not a registration (a cancelled class's choice, a colleague's
# substitution). The module that owns the object names the purpose (the salt, which also keys
# the grants), the address the link is for and when it expires; signing, the address
# fingerprint and the grants are the ones above.


@dataclass(frozen=True)
class ObjectLink:
    """What a valid object link or its grant holds: the object's primary key, the fingerprint
    of the address it was made for, and when it stops working (Unix seconds)."""

    pk: int
    fingerprint: str
    expires_at: float

    def made_for(self, address: str) -> bool:
        """True when the link was made for ``address`` (compared ignoring case)."""
        return bool(self.fingerprint) and self.fingerprint == _fingerprint(address)


def object_url(url_name: str, purpose: str, pk: int, address: str, until: datetime) -> str:
    """Absolute URL (the view ``url_name`` taking ``token``) of a link of ``purpose`` to object
    ``pk``, for ``address``, valid until ``until`` (aware)."""
    token = signing.dumps(
        {"o": pk, "a": _fingerprint(address), "until": int(until.timestamp())}, salt=purpose
    )
    return _absolute(url_name, token)


def read_object_link(purpose: str, token: str) -> ObjectLink:
    """Check a token made by ``object_url`` for ``purpose``; the owner then checks the object
    exists and ``made_for`` its current address.

    Raises: LinkError — tampered, made for another purpose, or expired.
    """
    payload, expires_at = _read(purpose, token)
    return ObjectLink(int(payload.get("o") or 0), str(payload.get("a", "")), expires_at)


def grant_object(session: SessionBase, purpose: str, link: ObjectLink) -> None:
    """Record in the browser's session that it opened ``link`` (as ``grant`` does for a
    registration's link: the session key is renewed, expired grants are dropped)."""
    now = time.time()
    grants = {key: value for key, value in _grants(session).items() if value["until"] >= now}
    grants[f"{purpose}:{link.pk}"] = {"a": link.fingerprint, "until": int(link.expires_at)}
    session.cycle_key()
    session[GRANTS_SESSION_KEY] = grants


def read_object_grant(session: SessionBase, purpose: str, pk: int) -> ObjectLink:
    """The grant this session holds for object ``pk`` of ``purpose``.

    Raises: NoGrant — none; LinkError — it expired.
    """
    entry = _grants(session).get(f"{purpose}:{pk}")
    if not isinstance(entry, dict):
        raise NoGrant(
            "This page opens only in the browser where you opened the link from your email."
        )
    until = float(entry.get("until", 0))
    if until < time.time():
        raise LinkError("The link you opened for this page has expired.", expired=True)
    return ObjectLink(pk, str(entry.get("a", "")), until)
