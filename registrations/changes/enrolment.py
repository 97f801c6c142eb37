"""Minimum enrolment: a class that needs a number of confirmed attendees to run, and its
go/no-go date (``Offering.minimum_attendees``, ``Offering.go_no_go_date``).

On the go/no-go date (in the class's zone) the beat task ``registrations.prompt_go_no_go``
emails the training administration once per class (``go_no_go_prompted_at`` is set in the same
transaction that queues the email, whose dedupe key is the class): confirmed attendees against
the minimum, with links to the class in the admin. Staff then confirm that it runs
(``run_confirm``, the offering action "Confirm the class runs" or the dashboard) or cancel it
(the offering action "Cancel this class…", ``registrations.changes.class_cancellation``).
Until it is confirmed its attendees read on the manage page that it runs only if enough people
enrol (``attendee_notice``).
"""

from dataclasses import dataclass
from datetime import date, datetime

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from courses.models import Offering
from courses.timefmt import session_label
from registrations.enums import RegistrationState as S
from registrations.messaging.outbox import email_queue, register_kind
from registrations.models import Registration

GO_NO_GO = register_kind("go_no_go", "Staff: confirm or cancel a class below its minimum")


def _candidates() -> QuerySet[Offering]:
    """Published classes with a minimum, not confirmed to run (one query, course loaded)."""
    return (
        Offering.objects.filter(
            status=Offering.Status.PUBLISHED,
            minimum_attendees__isnull=False,
            run_confirmed_at__isnull=True,
        )
        .select_related("course")
        .prefetch_related("sessions")
        .order_by("starts_on", "pk")
    )


def local_today(offering: Offering, now: datetime) -> date:
    """``now`` (aware) as a date in the class's zone."""
    return now.astimezone(offering.zone).date()


def undecided(now: datetime, *, within_days: int = 0) -> list[Offering]:
    """Classes with a minimum, published, not confirmed to run, whose first session has not
    begun (dates in each class's zone) and whose go/no-go date is at most ``within_days`` days
    after ``now``'s date there, soonest first. Prompted or not."""
    return [o for o in _candidates() if _decision_near(o, now, within_days)]


def _decision_near(offering: Offering, now: datetime, within_days: int) -> bool:
    today = local_today(offering, now)
    if offering.starts_on < today:
        return False
    return (offering.go_no_go_date - today).days <= within_days


def _due(offering: Offering, now: datetime) -> bool:
    return (
        offering.status == Offering.Status.PUBLISHED
        and offering.minimum_attendees is not None
        and offering.run_confirmed_at is None
        and offering.go_no_go_prompted_at is None
        and _decision_near(offering, now, 0)
    )


def go_no_go_due(now: datetime) -> list[Offering]:
    """The classes whose staff must be asked now: a minimum, published, not confirmed to run,
    not cancelled, their go/no-go date reached in their own zone (``now``: aware), their first
    session not begun, and not yet prompted (``go_no_go_prompted_at``)."""
    return [o for o in _candidates() if _due(o, now)]


def confirmed_count(offering: Offering) -> int:
    """Confirmed registrations of ``offering`` (the figure the minimum is compared with)."""
    return Registration.objects.filter(offering=offering, state=S.CONFIRMED).count()


def admin_urls(offering: Offering) -> dict[str, str]:
    """Absolute admin links for the class: its page and the class list filtered to it (where
    the actions "Confirm the class runs" and "Cancel this class…" are)."""
    change = reverse("admin:courses_offering_change", args=[offering.pk])
    changelist = reverse("admin:courses_offering_changelist")
    return {
        "admin_url": f"{settings.SITE_URL}{change}",
        "changelist_url": f"{settings.SITE_URL}{changelist}?id__exact={offering.pk}",
    }


def send_go_no_go(offering: Offering, confirmed: int) -> None:
    """Queue the go/no-go email to ``settings.TRAINING_ADMIN_EMAIL`` (sent after commit); the
    dedupe key ``go-no-go:<offering>`` makes it once per class."""
    zone = offering.zone
    email_queue(
        kind=GO_NO_GO,
        to_email=settings.TRAINING_ADMIN_EMAIL,
        to_name="Training administration",
        template=f"emails/{GO_NO_GO}",
        dedupe_key=f"go-no-go:{offering.pk}",
        context={
            "course_title": offering.course.title,
            "offering_label": (
                f"{offering.date_label}, {offering.get_part_of_day_display().lower()}"
            ),
            "sessions": [
                session_label(s.starts_at, s.ends_at, zone) for s in offering.session_list
            ],
            "confirmed": confirmed,
            "minimum": offering.minimum_attendees,
            "go_no_go_date": f"{offering.go_no_go_date:%B %-d, %Y}",
            **admin_urls(offering),
        },
    )


def prompt_go_no_go(offering: Offering, now: datetime) -> bool:
    """Ask staff about one class, once: under the class's row lock, if it is still due, set
    ``go_no_go_prompted_at`` to ``now`` and queue the email in the same transaction.

    Returns: True when this call prompted, False when it was not (or no longer) due."""
    with transaction.atomic():
        locked = (
            Offering.objects.select_for_update()
            .select_related("course")
            .prefetch_related("sessions")
            .get(pk=offering.pk)
        )
        if not _due(locked, now):
            return False
        Offering.objects.filter(pk=locked.pk).update(go_no_go_prompted_at=now)
        send_go_no_go(locked, confirmed_count(locked))
    return True


def prompt_due(now: datetime | None = None) -> int:
    """Prompt staff for every class due at ``now`` (default the current time). Returns how
    many were prompted; running it again prompts nobody twice."""
    now = now or timezone.now()
    return sum(prompt_go_no_go(offering, now) for offering in go_no_go_due(now))


@shared_task(name="registrations.prompt_go_no_go", ignore_result=True)
def prompt_go_no_go_task() -> int:
    """Beat entry point (hourly): ``prompt_due``."""
    return prompt_due()


class RunConfirmRefused(Exception):  # noqa: N818 -- the domain's word
    """The class cannot be confirmed to run (cancelled); ``message`` says why."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def run_confirm(offering: Offering, staff_user: AbstractBaseUser) -> bool:
    """Record that ``staff_user`` confirmed the class runs (``run_confirmed_at``/``_by``), with
    an entry in the class's history naming them. Idempotent.

    Returns: True when this call confirmed it, False when it already was.

    Raises: RunConfirmRefused for a cancelled class."""
    with transaction.atomic():
        locked = Offering.objects.select_for_update().get(pk=offering.pk)
        if locked.status == Offering.Status.CANCELLED:
            raise RunConfirmRefused(f"{locked} is cancelled.")
        if locked.run_confirmed_at is not None:
            return False
        locked.run_confirmed_at = timezone.now()
        locked.run_confirmed_by = staff_user  # type: ignore[assignment]
        locked._history_user = staff_user  # type: ignore[attr-defined]
        locked._change_reason = "Confirmed the class runs"  # type: ignore[attr-defined]
        locked.save(update_fields=["run_confirmed_at", "run_confirmed_by", "updated_at"])
    offering.run_confirmed_at = locked.run_confirmed_at
    offering.run_confirmed_by = locked.run_confirmed_by
    return True


@dataclass(frozen=True)
class AttendeeNotice:
    """What an attendee of a class not yet confirmed reads: the minimum and the decision day."""

    minimum: int
    decide_on: date


def attendee_notice(registration: Registration) -> AttendeeNotice | None:
    """The notice for ``registration``'s class, or None when its class has no minimum, is
    confirmed to run or is cancelled."""
    offering = registration.offering
    if not offering.awaits_go_no_go or offering.minimum_attendees is None:
        return None
    return AttendeeNotice(offering.minimum_attendees, offering.go_no_go_date)
