"""Erasing one person's personal data on request (the admin action "Erase personal data…").

The person is every registration with one course email (any letter case), in any class. Each
gets one treatment (``treatment_for``), so the confirmation page and the erasure agree:

* ``ANONYMISE``: anything that is not a training record (ended without a seat, or still waiting
  for a class that is over) is anonymised in full (``scrub.ANONYMISE``).
* ``KEEP_TRAINING_RECORD``: a confirmed or completed registration of a class that has ended
  keeps the training record (name, course email, agency, attendance, certificate, payment)
  until ``TRAINING_RECORD_RETENTION`` runs out, because continuing-education rules ask for
  proof of training; everything else goes (``scrub.CONTACT``).
* ``ACTIVE``: a registration for a class still to come that has not ended is not erased: a
  seat, a payment or a review would be left to a row nobody can reach. The whole erasure is
  refused until staff cancel it (``ErasureRefused``).
* ``DONE``: nothing is left to erase.

Payments and refunds stay in every case, with their amounts and Stripe ids: they are the
financial record. Stripe keeps its own copy of what the person typed at checkout; only staff with
the Stripe dashboard can delete that (the page says so).

The erasure is recorded in the audit history (a history row with the staff user) and as a
``RegistrationEvent`` note on each registration.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from registrations.enums import INACTIVE_STATES
from registrations.models import Registration
from registrations.payments.models import Payment
from registrations.transitions import Actor

from . import scrub
from .retention import CLASS_ENDS_AT, TRAINING_RECORD_STATES, periods

CHANGE_REASON = "Personal data erased on request"


class Treatment(enum.StrEnum):
    ANONYMISE = "anonymise"
    KEEP_TRAINING_RECORD = "keep_training_record"
    ACTIVE = "active"
    DONE = "done"

    @property
    def label(self) -> str:
        return {
            "anonymise": "Anonymised: name, addresses, employer and every detail removed",
            "keep_training_record": "Contact and sensitive details removed; the training "
            "record is kept",
            "active": "Refused: the registration is active. Cancel it first",
            "done": "Nothing left to erase",
        }[self.value]


@dataclass(frozen=True)
class Planned:
    """One registration of the person and what erasure does to it.

    ``keep_until`` (training records): when the retention task anonymises the record.
    ``payments``: its payments (with ``refunds`` prefetched), which stay.
    """

    registration: Registration
    treatment: Treatment
    class_ends_at: datetime | None
    keep_until: datetime | None = None
    payments: list[Payment] = field(default_factory=list)


class ErasureRefused(Exception):  # noqa: N818 — the domain's name for it
    """Nothing was erased; ``message`` says why (e.g. an active registration to cancel first)."""

    def __init__(self, message: str, registration_ids: tuple[int, ...] = ()):
        self.message = message
        self.registration_ids = registration_ids
        super().__init__(message)


@dataclass(frozen=True)
class ErasureResult:
    """Registration ids by what happened to them."""

    anonymised: list[int]
    training_records_kept: list[int]
    unchanged: list[int]


def person_registrations(email: str) -> QuerySet[Registration]:
    """Every registration whose course email is ``email`` (ignoring case and surrounding space),
    oldest first, with ``class_ends_at`` (the end of the class's last session) annotated."""
    return (
        Registration.objects.filter(email__iexact=email.strip())
        .select_related("offering__course")
        .prefetch_related("payments__refunds")
        .annotate(class_ends_at=CLASS_ENDS_AT)
        .order_by("pk")
    )


def _contact_erased(registration: Registration) -> bool:
    return (
        registration.sensitive_details_removed_at is not None
        and registration.work_email == scrub.erased_address(registration.pk)
        and not registration.pending_email
        and not registration.time_zone
        and not registration.emails.filter(body_removed_at__isnull=True).exists()
    )


def treatment_for(
    registration: Registration, class_ends_at: datetime | None, now: datetime
) -> Treatment:
    """What erasure does to ``registration`` at ``now`` (see the module docstring). A class
    with no sessions counts as over, as in ``retention.unfinished_due``."""
    if registration.anonymised_at is not None:
        return Treatment.DONE
    class_over = class_ends_at is None or class_ends_at <= now
    if registration.state in TRAINING_RECORD_STATES and class_over:
        if _contact_erased(registration):
            return Treatment.DONE
        return Treatment.KEEP_TRAINING_RECORD
    if registration.state not in INACTIVE_STATES and not class_over:
        return Treatment.ACTIVE
    return Treatment.ANONYMISE


def erasure_plan(email: str, now: datetime | None = None) -> list[Planned]:
    """The person's registrations (``person_registrations``) and each one's treatment at
    ``now`` (default: the current time); empty when no registration uses ``email``."""
    now = now or timezone.now()
    keep = periods().training_records
    plan = []
    for registration in person_registrations(email):
        ends = getattr(registration, "class_ends_at", None)
        treatment = treatment_for(registration, ends, now)
        keep_until = ends + keep if treatment is Treatment.KEEP_TRAINING_RECORD and ends else None
        payments = list(registration.payments.all())
        plan.append(Planned(registration, treatment, ends, keep_until, payments))
    return plan


def erase_person(email: str, *, staff_user: User, now: datetime | None = None) -> ErasureResult:
    """Erase the personal data of the person with course email ``email``, on their request.

    All or nothing, in one transaction: the person's registrations are locked (in key order),
    the plan is made again under the locks, and each registration gets its treatment, recorded
    with ``staff_user`` in the history and as the note "Personal data erased on request by
    <username>". Running it again changes nothing more.

    Raises: ErasureRefused when no registration uses ``email``, or when one of them is active
    (``Treatment.ACTIVE``: cancel it first); nothing is changed then.
    """
    now = now or timezone.now()
    actor = Actor.staff(staff_user)
    who = staff_user.get_username()
    result = ErasureResult([], [], [])
    with transaction.atomic():
        list(
            Registration.objects.select_for_update()
            .filter(email__iexact=email.strip())
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        plan = erasure_plan(email, now)
        if not plan:
            raise ErasureRefused("No registration uses this course email.")
        active = tuple(p.registration.pk for p in plan if p.treatment is Treatment.ACTIVE)
        if active:
            raise ErasureRefused(
                "Nothing was erased: registration(s) "
                + ", ".join(f"#{pk}" for pk in active)
                + " are still active for a class that has not ended. Cancel them first (and "
                "refund if due), then erase.",
                active,
            )
        for planned in plan:
            pk = planned.registration.pk
            if planned.treatment is Treatment.ANONYMISE:
                done = scrub.apply(
                    scrub.ANONYMISE, pk, now=now, actor=actor, change_reason=CHANGE_REASON,
                    note=f"Personal data erased on request by {who}.",
                )  # fmt: skip
                (result.anonymised if done else result.unchanged).append(pk)
            elif planned.treatment is Treatment.KEEP_TRAINING_RECORD:
                until = planned.keep_until.date().isoformat() if planned.keep_until else "—"
                done = scrub.apply(
                    scrub.CONTACT, pk, now=now, actor=actor, change_reason=CHANGE_REASON,
                    note=f"Personal data erased on request by {who}. The training record "
                    "(name, course email, agency, attendance, certificate, payment) is kept "
                    f"until {until} (TRAINING_RECORD_RETENTION).",
                )  # fmt: skip
                (result.training_records_kept if done else result.unchanged).append(pk)
            else:
                result.unchanged.append(pk)
    return result
