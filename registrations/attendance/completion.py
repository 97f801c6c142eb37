"""Marking attendance by hand, finalising a session, and completing the registrations that
attended every session (``docs/architecture.md``, "Attendance").

A session counts as attended from the course's ``attendance_minimum_percent`` of its length
(default 90 %, APCO's rule), unless staff marked the attendee present or absent, or excused them
with a reason. Finalising a session is the explicit step after the imports: from then on its
attendance is fixed, a confirmed registration that attended every session of the class once all
are finalised becomes ``completed`` (and gets its certificate), and an attendee below the
minimum in the finalised session is told once, with whom to contact.
"""

import logging
from decimal import ROUND_CEILING, Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from courses.models import Session
from registrations.certificates.service import issue_certificate
from registrations.enums import RegistrationState as S
from registrations.messaging import notices
from registrations.messaging.outbox import email_queue, register_kind
from registrations.models import Registration
from registrations.transitions import Actor, registration_transition

from .imports import ImportRefused, attendees
from .models import SessionAttendance, SessionFinalisation

logger = logging.getLogger(__name__)

ATTENDANCE_SHORT = register_kind(
    "attendance_short", "Attendance below the minimum", refresh_context=notices.with_links
)


def minimum_minutes(session: Session) -> Decimal:
    """The minutes from which ``session`` counts as attended: the course's
    ``attendance_minimum_percent`` of the session's length, rounded up to a tenth."""
    length = Decimal(int(session.duration.total_seconds())) / 60
    percent = Decimal(session.offering.course.attendance_minimum_percent)
    return (length * percent / 100).quantize(Decimal("0.1"), rounding=ROUND_CEILING)


def _row(registration: Registration, session: Session) -> SessionAttendance:
    if session.starts_at > timezone.now():
        raise ImportRefused("Attendance is taken only for sessions that have started.")
    if hasattr(session, "finalisation"):
        raise ImportRefused("This session's attendance is finalised; it can no longer change.")
    if not attendees(session).filter(pk=registration.pk).exists():
        raise ImportRefused(f"{registration} is not confirmed in this class.")
    row, _ = SessionAttendance.objects.select_for_update().get_or_create(
        registration=registration, session=session
    )
    return row


def attendance_mark(
    registration: Registration, session: Session, mark: str, *, user: User, reason: str = ""
) -> SessionAttendance:
    """Mark ``registration`` present or absent in ``session`` (``mark``: a
    ``SessionAttendance.Mark`` value; "" goes back to the reports' minutes). Recorded with
    ``user`` and ``reason`` in the row's history; marking the same twice changes nothing.

    Raises: ImportRefused for a session that has not started or is finalised, or a
    registration that is not an attendee.
    """
    if mark not in SessionAttendance.Mark.values:
        raise ValueError(f"unknown mark {mark!r}")
    with transaction.atomic():
        row = _row(registration, session)
        if row.marked == mark and row.pk:
            return row
        row.marked = mark
        row._change_reason = reason or f"Marked {mark or 'from the reports'}."  # type: ignore[attr-defined]
        row._history_user = user  # type: ignore[attr-defined]
        row.save()
        return row


def attendance_excuse(
    registration: Registration, session: Session, *, reason: str, user: User
) -> SessionAttendance:
    """Record an excused exception: ``session`` counts as attended for ``registration``.
    ``reason`` is required and kept (audited with ``user``); an empty reason withdraws it.

    Raises: ImportRefused as ``attendance_mark`` does.
    """
    with transaction.atomic():
        row = _row(registration, session)
        row.excused_reason = reason.strip()
        row._change_reason = f"Excused: {reason.strip()}" if reason.strip() else "Excuse withdrawn."  # type: ignore[attr-defined]
        row._history_user = user  # type: ignore[attr-defined]
        row.save()
        return row


def attended(registration_id: int, session: Session) -> bool:
    """Whether the registration attended ``session`` by the rules above (no row: no)."""
    row = SessionAttendance.objects.filter(registration_id=registration_id, session=session).first()
    return row is not None and row.attended(minimum_minutes(session))


def session_finalise(session: Session, *, user: User) -> dict[str, list[int]]:
    """Close ``session``'s attendance; complete every confirmed registration that attended all
    sessions of the class once all are finalised; tell once each attendee below the minimum in
    this session. Finalising twice changes nothing.

    Returns: {"completed": [registration ids], "short": [ids told they fell short]}.
    Raises: ImportRefused when the session has not ended yet.
    """
    if session.ends_at > timezone.now():
        raise ImportRefused("A session's attendance can be finalised once the session has ended.")
    outcome: dict[str, list[int]] = {"completed": [], "short": []}
    with transaction.atomic():
        _, created = SessionFinalisation.objects.get_or_create(
            session=session, defaults={"finalised_by": user}
        )
        if not created:
            return outcome
        sessions = list(session.offering.sessions.select_related("offering__course"))
        finalised = set(
            SessionFinalisation.objects.filter(session__in=sessions).values_list(
                "session_id", flat=True
            )
        )
        minimum = {s.pk: minimum_minutes(s) for s in sessions}
        rows = {
            (row.registration_id, row.session_id): row
            for row in SessionAttendance.objects.filter(session__in=sessions)
        }

        def was_there(registration_id: int, one: Session) -> bool:
            row = rows.get((registration_id, one.pk))
            return row is not None and row.attended(minimum[one.pk])

        for registration in attendees(session).select_related("offering__course"):
            if not was_there(registration.pk, session):
                send_attendance_short(registration, session)
                outcome["short"].append(registration.pk)
                continue
            if registration.state != S.CONFIRMED or len(finalised) < len(sessions):
                continue
            if all(was_there(registration.pk, s) for s in sessions):
                registration_transition(
                    registration_id=registration.pk,
                    to_state=S.COMPLETED,
                    actor=Actor.staff(user),
                    reason="Attended every session.",
                )
                transaction.on_commit(partial(issue_certificate, registration.pk))
                outcome["completed"].append(registration.pk)
    logger.info(
        "attendance.finalised session=%s completed=%s short=%s",
        session.pk, len(outcome["completed"]), len(outcome["short"]),
    )  # fmt: skip
    return outcome


def send_attendance_short(registration: Registration, session: Session) -> None:
    """Queue the one email (``attendance_short``, once per registration and session) telling an
    attendee that ``session`` counts as not attended, with whom to contact for a make-up."""
    course = session.offering.course
    email_queue(
        kind=ATTENDANCE_SHORT,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/attendance_short",
        context={
            **notices.registration_context(registration),
            "session_label": str(session),
            "minimum_percent": course.attendance_minimum_percent,
            "contact_email": course.contact_email or settings.TRAINING_ADMIN_EMAIL,
        },
        dedupe_key=f"attendance-short:{registration.pk}:{session.pk}",
        registration=registration,
    )
