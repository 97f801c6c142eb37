"""What removing a person's data means, written once for the retention task and for erasure.

A registration's personal data lives in the row and in side tables: its audit history
(``Registration.history``, simple-history), its events (``RegistrationEvent.reason``), the
emails about it (``OutboundEmail``: recipient, subject, bodies, context, attachments), the admin
log (``LogEntry``), refund reasons, substitutions (both people's names and addresses, the
colleague's details) and Stripe's event payloads (``WebhookEvent.payload``).
``apply`` removes one ``Scope`` of it everywhere, in one transaction, and records that it did:

* ``SENSITIVE``: accessibility needs, phone and supervisor name and email (retention, some time
  after the class ends).
* ``CONTACT``: those plus the work email, a pending email and the time zone, and every email
  body (erasure on request of a training record, which keeps name, course email and agency).
* ``ANONYMISE``: everything that names or reaches the person; the row keeps its offering, state,
  role, the agency's US state, its dates and its payments (retention or erasure).

Free text (event reasons, subjects, refund reasons) is scrubbed by replacing each value the
person ever had (read from the row and every history row) with ``[removed]``, as whole words,
ignoring case; values shorter than two characters are left alone. Payments and refunds keep
their amounts and Stripe ids: they are the financial record.

A scope is applied at most once in effect: ``apply`` returns False and writes nothing when there
is nothing left to remove (``anonymised_at`` is set, or for ``SENSITIVE``
``sensitive_details_removed_at``). Its own writes leave ``updated_at`` alone, so they do not
restart the "last change" clock that retention reads.
"""

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q

from registrations.attendance.models import ImportedParticipant
from registrations.certificates.models import Certificate
from registrations.changes.models import Substitution
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, RegistrationEvent, RegistrationUnderReview
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.transitions import Actor, registration_note

logger = logging.getLogger(__name__)

REMOVED = "[removed]"
ERASED = "Erased"
SENSITIVE_FIELDS = ("accessibility_needs", "phone", "supervisor_name", "supervisor_email")
NOT_SENT = "Not sent: the registration's personal data was erased."

_EMAIL_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# ``intake.details_update`` records a phone change as "phone: '<old>' → '<new>'"; old numbers
# are in no history row (the history leaves the phone out), so the pattern removes them.
_PHONE_CHANGE = re.compile(r"(phone: )(['\"]).*?\2 → (['\"]).*?\3")


def erased_address(registration_id: int) -> str:
    """The neutral address that replaces a person's addresses on registration ``registration_id``.

    Unique per registration (so the one-active-email constraint still holds) and under the
    reserved ``.invalid`` top-level domain (RFC 2606), so nothing can ever be delivered to it.
    """
    return f"erased-{registration_id}@erased.invalid"


def _sensitive(registration_id: int) -> dict[str, str]:
    return dict.fromkeys(SENSITIVE_FIELDS, "")


def _contact(registration_id: int) -> dict[str, str]:
    return {
        **_sensitive(registration_id),
        "pending_email": "",
        "time_zone": "",
        "work_email": erased_address(registration_id),
    }


def _anonymous(registration_id: int) -> dict[str, str]:
    return {
        **_contact(registration_id),
        "first_name": ERASED,
        "last_name": ERASED,
        "email": erased_address(registration_id),
        "employer_name": ERASED,
        "employer_city": ERASED,
    }


@dataclass(frozen=True)
class Scope:
    """One kind of removal.

    ``neutral(pk)`` gives the registration's new field values; ``value_fields`` are the fields
    whose values (current and past) are scrubbed out of free text elsewhere, except the current
    value of the ``keep_current`` fields; ``remove_bodies`` empties every email of the
    registration (and skips those not yet sent); ``anonymise`` sets ``anonymised_at``;
    ``stripe_payloads`` removes the Stripe event payloads that mention its payments or
    addresses; ``admin_log`` rewrites its admin log entries.
    """

    name: str
    change_reason: str  # history_change_reason: at most 100 characters
    neutral: Callable[[int], dict[str, str]]
    value_fields: tuple[str, ...]
    keep_current: tuple[str, ...] = ()
    remove_bodies: bool = False
    anonymise: bool = False
    stripe_payloads: bool = False
    admin_log: bool = False


SENSITIVE = Scope(
    name="sensitive_details",
    change_reason="Accessibility needs, phone and supervisor details removed",
    neutral=_sensitive,
    value_fields=("supervisor_name", "supervisor_email", "phone"),
)
CONTACT = Scope(
    name="contact_details",
    change_reason="Contact and sensitive details erased; training record kept",
    neutral=_contact,
    value_fields=(
        "supervisor_name",
        "supervisor_email",
        "phone",
        "work_email",
        "pending_email",
        "email",
    ),
    keep_current=("email",),
    remove_bodies=True,
    stripe_payloads=True,
)
ANONYMISE = Scope(
    name="anonymised",
    change_reason="Personal data anonymised",
    neutral=_anonymous,
    value_fields=(
        "first_name",
        "last_name",
        "email",
        "pending_email",
        "work_email",
        "supervisor_name",
        "supervisor_email",
        "phone",
        "employer_name",
    ),
    remove_bodies=True,
    anonymise=True,
    stripe_payloads=True,
    admin_log=True,
)


def _history_fields() -> set[str]:
    return {field.name for field in Registration.history.model._meta.fields}


def personal_values(registration: Registration, scope: Scope) -> set[str]:
    """Every value of ``scope.value_fields`` the registration has or ever had (its history rows),
    with "first last" names when names are in scope, less the current value of the fields the
    scope keeps. Blank values are left out."""
    present = _history_fields()
    history = Registration.history.filter(id=registration.pk).values(
        *[name for name in scope.value_fields if name in present]
    )
    rows: list[dict[str, Any]] = [
        {name: getattr(registration, name) for name in scope.value_fields},
        *history,
    ]
    values: set[str] = set()
    for row in rows:
        values.update(str(row.get(name) or "").strip() for name in scope.value_fields)
        if "first_name" in scope.value_fields:
            values.add(f"{row.get('first_name', '')} {row.get('last_name', '')}".strip())
    for substitution in Substitution.objects.filter(registration=registration):
        people = [
            {name: getattr(substitution, f"original_{name}") for name in _SUBSTITUTION_PERSON},
            {name: getattr(substitution, name) for name in _SUBSTITUTION_PERSON},
            substitution.details,
        ]
        for row in people:
            values.update(str(row.get(name) or "").strip() for name in scope.value_fields)
            if "first_name" in scope.value_fields:
                values.add(f"{row.get('first_name', '')} {row.get('last_name', '')}".strip())
    kept = {str(getattr(registration, name)).strip().lower() for name in scope.keep_current}
    return {value for value in values if value and value.lower() not in kept}


def _usable(value: str) -> bool:
    """A value worth scrubbing: two characters or more, with a letter or digit, and not one that
    would match inside ``[removed]`` (so scrubbing twice changes nothing more)."""
    if len(value) < 2 or not re.search(r"\w", value):
        return False
    return not re.search(rf"(?<!\w){re.escape(value)}(?!\w)", REMOVED, re.IGNORECASE)


def text_scrubber(
    values: Iterable[str], *, phone_changes: bool = False, any_email: bool = False
) -> Callable[[str], str]:
    """A function that replaces each of ``values`` in a text with ``[removed]``.

    Matching is case-insensitive and on whole words (a first name "Ana" leaves "Banana"
    alone); longer values are tried first, so a full name goes before its parts. With
    ``phone_changes``, the old and new numbers of a recorded phone change go too; with
    ``any_email``, every email address in the text. Idempotent: scrubbing twice gives the
    same text as once.
    """
    usable = sorted({value.strip() for value in values if _usable(value.strip())}, key=len)
    pattern = (
        re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(v) for v in reversed(usable)) + r")(?!\w)",
            re.IGNORECASE,
        )
        if usable
        else None
    )

    def scrub(text: str) -> str:
        if not text:
            return text
        if phone_changes:
            text = _PHONE_CHANGE.sub(rf"\g<1>{REMOVED}", text)
        if pattern is not None:
            text = pattern.sub(REMOVED, text)
        if any_email:
            text = _EMAIL_ADDRESS.sub(REMOVED, text)
        return text

    return scrub


def scrub_json(value: Any, scrub: Callable[[str], str]) -> Any:
    """``value`` (parsed JSON) with ``scrub`` applied to every string in it (not to keys)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(item, scrub) for item in value]
    if isinstance(value, dict):
        return {key: scrub_json(item, scrub) for key, item in value.items()}
    return value


def _scrub_history(registration: Registration, scope: Scope, scrub: Callable[[str], str]) -> int:
    """Put the scope's neutral values into every history row of the registration and scrub their
    free text. Returns how many rows changed."""
    present = _history_fields()
    neutral = {
        name: value for name, value in scope.neutral(registration.pk).items() if name in present
    }
    text_fields = ("attention_reason", "history_change_reason")
    changed = []
    for row in Registration.history.filter(id=registration.pk):
        updates = dict(neutral)
        for name in text_fields:
            if getattr(row, name):
                updates[name] = scrub(getattr(row, name))
        if row.history_change_reason:  # a CharField of 100
            updates["history_change_reason"] = updates["history_change_reason"][:100]
        if any(getattr(row, name) != value for name, value in updates.items()):
            for name, value in updates.items():
                setattr(row, name, value)
            changed.append(row)
    Registration.history.model.objects.bulk_update(changed, [*neutral, *text_fields])
    return len(changed)


def _scrub_events(registration: Registration, scrub: Callable[[str], str]) -> int:
    changed = []
    for event in RegistrationEvent.objects.filter(registration=registration):
        reason = scrub(event.reason)
        if reason != event.reason:
            event.reason = reason
            changed.append(event)
    RegistrationEvent.objects.bulk_update(changed, ["reason"])
    return len(changed)


def _scrub_emails(
    registration: Registration,
    scope: Scope,
    scrub: Callable[[str], str],
    addresses: set[str],
    now: datetime,
) -> int:
    """Scrub the emails about the registration. A message to one of ``addresses`` (lower case) is
    re-addressed to ``erased_address`` and loses its body; with ``scope.remove_bodies`` every
    message does, and one still queued is skipped instead of sent."""
    changed = 0
    rows = OutboundEmail.objects.select_for_update().filter(registration=registration)
    for row in rows.order_by("pk"):
        updates: dict[str, Any] = {"subject": scrub(row.subject)[:998]}
        to_person = row.to_email.lower() in addresses
        if to_person:
            updates.update(to_email=erased_address(registration.pk), to_name="")
        else:
            updates["to_name"] = scrub(row.to_name)[:400]
        if scope.remove_bodies or to_person:
            updates.update(text_body="", html_body="", context={}, attachments=[])
            updates["body_removed_at"] = row.body_removed_at or now
            if row.status == OutboundEmail.Status.QUEUED:
                updates.update(status=OutboundEmail.Status.SKIPPED, last_error=NOT_SENT)
        else:
            updates.update(
                text_body=scrub(row.text_body),
                html_body=scrub(row.html_body),
                context=scrub_json(row.context, scrub),
                attachments=scrub_json(row.attachments, scrub),
            )
        if any(getattr(row, name) != value for name, value in updates.items()):
            OutboundEmail.objects.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed


def _scrub_attendance(registration: Registration, scope: Scope) -> int:
    """The name and address imported participants reports gave the person (the minutes stay);
    when anonymising, the name printed on their certificate too (in its history as well), so
    the verification page no longer names anyone."""
    changed = (
        ImportedParticipant.objects.filter(registration=registration)
        .exclude(name="", email="")
        .update(name="", email="")
    )
    if scope.anonymise:
        changed += (
            Certificate.objects.filter(registration=registration)
            .exclude(name=REMOVED)
            .update(name=REMOVED)
        )
        Certificate.history.model.objects.filter(registration_id=registration.pk).update(
            name=REMOVED
        )
    return changed


# The person fields a substitution keeps for both people (``original_<name>`` and ``<name>``).
_SUBSTITUTION_PERSON = ("first_name", "last_name", "email", "work_email")


def _scrub_substitutions(
    registration: Registration, scope: Scope, scrub: Callable[[str], str]
) -> int:
    """The substitutions of the registration: both people's fields of ``scope`` take their
    neutral values (the details the colleague gave too) and the staff's reason is scrubbed."""
    neutral = scope.neutral(registration.pk)
    changed = 0
    for row in Substitution.objects.filter(registration=registration):
        updates: dict[str, Any] = {
            "details": {
                name: neutral.get(name, value) if name in neutral else value
                for name, value in row.details.items()
            },
            "decision_reason": scrub(row.decision_reason),
        }
        for name in _SUBSTITUTION_PERSON:
            if name in neutral:
                updates[name] = updates[f"original_{name}"] = neutral[name]
        if any(getattr(row, name) != value for name, value in updates.items()):
            Substitution.objects.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed


def _scrub_refunds(registration: Registration, scrub: Callable[[str], str]) -> int:
    """Scrub the reasons staff gave for refunds (and their history); amounts and ids stay."""
    changed = 0
    refunds = Refund.objects.filter(payment__registration=registration)
    history = Refund.history.model.objects.filter(id__in=refunds.values("pk"))
    for queryset in (refunds, history):
        for row in queryset:
            reason = scrub(row.reason)
            if reason != row.reason:
                queryset.model.objects.filter(pk=row.pk).update(reason=reason)
                changed += 1
    return changed


def _remove_stripe_payloads(registration: Registration, addresses: set[str], now: datetime) -> int:
    """Remove the payload of every Stripe event (not yet emptied) with a string value that is one
    of the registration's Checkout Session, PaymentIntent or refund ids, or one of
    ``addresses`` (ignoring case)."""
    payments = Payment.objects.filter(registration=registration)
    identifiers = {
        *payments.values_list("stripe_checkout_session_id", flat=True),
        *payments.values_list("stripe_payment_intent_id", flat=True),
        *Refund.objects.filter(payment__in=payments).values_list("stripe_refund_id", flat=True),
        *addresses,
    }
    # Whole JSON strings only (quoted as the stored JSON writes them): "cs_1" is not "cs_10".
    terms = [
        Q(payload__icontains=json.dumps(value, ensure_ascii=False))
        for value in identifiers
        if value
    ]
    if not terms:
        return 0
    return (
        WebhookEvent.objects.filter(payload_removed_at__isnull=True)
        .filter(reduce(or_, terms))
        .update(payload={}, payload_removed_at=now)
    )


def _rewrite_admin_log(registration: Registration, scrub: Callable[[str], str]) -> int:
    """The admin log names the registration as it was (``object_repr``): rename and scrub."""
    types = ContentType.objects.get_for_models(
        Registration, RegistrationUnderReview, for_concrete_models=False
    ).values()
    changed = 0
    name = str(registration)[:200]
    for entry in LogEntry.objects.filter(content_type__in=types, object_id=str(registration.pk)):
        message = scrub(entry.change_message)
        if (entry.object_repr, entry.change_message) != (name, message):
            LogEntry.objects.filter(pk=entry.pk).update(object_repr=name, change_message=message)
            changed += 1
    return changed


def apply(
    scope: Scope,
    registration_id: int,
    *,
    now: datetime,
    actor: Actor,
    note: str,
    change_reason: str = "",
) -> bool:
    """Remove ``scope``'s data from registration ``registration_id`` and its side tables.

    Locks the registration (one row: no other lock is taken, so the lock order holds), writes the
    neutral values (a history row records it, with ``actor``'s user and ``change_reason``, by
    default ``scope.change_reason``; at most 100 characters),
    scrubs the side tables, stamps ``sensitive_details_removed_at`` (and ``anonymised_at`` for
    ``ANONYMISE``) with ``now``, and records ``note`` (plain text, no personal data) as a
    ``RegistrationEvent``.

    Returns: True if anything was removed; False, with nothing written, when the registration is
    already anonymised, ``SENSITIVE`` was already applied, or nothing is left to remove.

    Raises: Registration.DoesNotExist for an unknown id.
    """
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        if registration.anonymised_at is not None:
            return False
        if scope is SENSITIVE and registration.sensitive_details_removed_at is not None:
            return False
        values = personal_values(registration, scope)
        addresses = {value.lower() for value in values if "@" in value}
        scrub = text_scrubber(
            values, phone_changes="phone" in scope.value_fields, any_email=scope.anonymise
        )
        changes: dict[str, Any] = {
            **scope.neutral(registration.pk),
            "attention_reason": scrub(registration.attention_reason),
            "sensitive_details_removed_at": registration.sensitive_details_removed_at or now,
        }
        if scope.anonymise:
            changes["anonymised_at"] = now
        fields = [name for name, value in changes.items() if getattr(registration, name) != value]
        for name in fields:
            setattr(registration, name, changes[name])
        if fields:
            reason = (change_reason or scope.change_reason)[:100]
            registration._change_reason = reason  # type: ignore[attr-defined]
            registration._history_user = actor.user  # type: ignore[attr-defined]
            # update_fields leaves updated_at (auto_now) as it was: see the module docstring.
            registration.save(update_fields=fields)
        side = (
            _scrub_history(registration, scope, scrub)
            + _scrub_events(registration, scrub)
            + _scrub_emails(registration, scope, scrub, addresses, now)
            + _scrub_refunds(registration, scrub)
            + _scrub_substitutions(registration, scope, scrub)
        )
        if scope is not SENSITIVE:
            side += _scrub_attendance(registration, scope)
        if scope.stripe_payloads:
            side += _remove_stripe_payloads(registration, addresses, now)
        if scope.admin_log:
            side += _rewrite_admin_log(registration, scrub)
        if not fields and not side:
            return False
        registration_note(registration, actor=actor, reason=note)
    logger.info(
        "privacy.%s registration=%s actor=%s user=%s",
        scope.name,
        registration_id,
        actor.kind,
        actor.user.pk if actor.user else "",
    )
    return True
