"""Importing a participants report for one session: preview, staff's decisions, apply, undo.

``import_preview`` reads the file (``reports.read_report``), groups its rows per participant,
matches them (``matching``) to the class's confirmed and completed registrations, and stores the
result as an ``AttendanceImport`` in ``preview``: nothing counts yet. Staff assign unmatched or
ambiguous participants to a registration, or ignore them (``participant_assign``), then
``import_apply``: each matched registration's minutes for the session become the union of the
intervals of every applied import of that session (a restarted meeting's second report adds
to the first; the same file twice is refused, so it changes nothing). ``import_undo`` takes an
applied import's intervals out again. Every change of a ``SessionAttendance`` is recorded in its
history with the user and the import (``docs/architecture.md``, "Attendance").
"""

import hashlib
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from courses.models import Session
from courses.timefmt import instant_label
from registrations.enums import RegistrationState as S
from registrations.models import Registration

from . import matching
from .minutes import attended_minutes
from .models import AttendanceImport, ImportedParticipant, SessionAttendance
from .reports import ReportError, read_report

Outcome = ImportedParticipant.Outcome
# Registrations whose attendance is taken: those with a place in the class.
ATTENDING_STATES = (S.CONFIRMED, S.COMPLETED)


class ImportRefused(ValueError):
    """An import staff cannot go on with; the message says why and what to do."""


def attendees(session: Session) -> QuerySet[Registration]:
    """The registrations whose attendance is taken for ``session``: confirmed or completed in
    its offering, by name."""
    return Registration.objects.filter(
        offering_id=session.offering_id, state__in=ATTENDING_STATES
    ).order_by("last_name", "first_name", "pk")


def _people(session: Session) -> list[matching.Person]:
    return [
        matching.Person(r.pk, r.first_name, r.last_name, (r.email, r.work_email))
        for r in attendees(session)
    ]


def _hosts(session: Session) -> set[str]:
    """Addresses whose rows are the class's own staff: its instructors'."""
    emails = session.offering.instructors.values_list("email", flat=True)
    return {email.lower() for email in emails if email}


def import_preview(session: Session, data: bytes, *, filename: str, user: User) -> AttendanceImport:
    """Read ``data`` (a Zoom or Teams participants report, any supported encoding) for
    ``session`` and store what it says, matched, as an import in preview.

    Times are read in the offering's zone unless the file says otherwise. Rows of the host,
    the organisers and the class's instructors are kept but left out of attendance.

    Raises:
        ReportError: the file cannot be read (its message names the line when one is at fault).
        ImportRefused: the session has not started or is finalised; the report's times do not
            overlap the session; this very file was already applied to this session.
    """
    now = timezone.now()
    if session.starts_at > now:
        raise ImportRefused("This session has not started yet: attendance comes after it.")
    if hasattr(session, "finalisation"):
        raise ImportRefused("This session's attendance is finalised; it can no longer change.")
    digest = hashlib.sha256(data).hexdigest()
    earlier = AttendanceImport.objects.filter(
        session=session, sha256=digest, status=AttendanceImport.Status.APPLIED
    ).first()
    if earlier is not None:
        when = instant_label(earlier.applied_at or earlier.created_at, session.offering.zone)
        raise ImportRefused(
            f"This file was already applied to this session on {when} (import {earlier.pk}). "
            "Importing it again would change nothing."
        )
    report = read_report(data, session.offering.zone)
    if not report.rows:
        raise ReportError("The report has no participants.")
    starts, ends = report.starts_at, report.ends_at
    assert starts is not None and ends is not None
    if ends <= session.starts_at or starts >= session.ends_at:
        zone = session.offering.zone
        raise ImportRefused(
            f"This report covers {instant_label(starts, zone)} to {instant_label(ends, zone)}, "
            f"which does not overlap the session ({session}). Choose the session the report "
            "belongs to."
        )
    participants = matching.group_rows(report.rows)
    hosts = _hosts(session)
    for participant in participants:
        if participant.email and participant.email.lower() in hosts:
            participant.outcome = matching.HOST
    matching.match(participants, _people(session))
    with transaction.atomic():
        stored = AttendanceImport.objects.create(
            session=session,
            platform=report.platform,
            filename=filename[:255],
            sha256=digest,
            encoding=report.encoding,
            report_starts_at=starts,
            report_ends_at=ends,
            uploaded_by=user,
        )
        ImportedParticipant.objects.bulk_create(
            ImportedParticipant(
                attendance_import=stored,
                name=participant.name[:300],
                email=participant.email[:320],
                lines=", ".join(str(row.line) for row in participant.rows)[:200],
                intervals=[
                    [row.joined_at.isoformat(), row.left_at.isoformat()] for row in participant.rows
                ],
                minutes=attended_minutes(
                    [(row.joined_at, row.left_at) for row in participant.rows],
                    session.starts_at,
                    session.ends_at,
                ),
                outcome=participant.outcome,
                registration_id=participant.registration_id,
                candidates=list(participant.candidates),
            )
            for participant in participants
        )
    return stored


def participant_assign(
    participant: ImportedParticipant, registration: Registration | None
) -> ImportedParticipant:
    """Staff's decision for one participant of an import in preview: ``registration`` (one of
    the session's attendees) or None to ignore the rows.

    Raises: ImportRefused when the import is no longer in preview, the participant is a host,
    or the registration is not an attendee of this session.
    """
    with transaction.atomic():
        stored = AttendanceImport.objects.select_for_update().get(
            pk=participant.attendance_import_id
        )
        if stored.status != AttendanceImport.Status.PREVIEW:
            raise ImportRefused("Only an import in preview can be changed; undo it first.")
        if participant.outcome == Outcome.HOST:
            raise ImportRefused("The host's and instructors' rows are not attendance.")
        if registration is None:
            participant.outcome, participant.registration = Outcome.IGNORED, None
        else:
            if not attendees(stored.session).filter(pk=registration.pk).exists():
                raise ImportRefused(f"{registration} is not confirmed in this class.")
            participant.outcome, participant.registration = Outcome.ASSIGNED, registration
        participant.save(update_fields=["outcome", "registration"])
        return participant


def _intervals(values: Iterable[list[str]]) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in values]


def recompute(session: Session, registration_ids: Iterable[int], *, user: User, why: str) -> int:
    """Set the minutes of each registration for ``session`` from every applied import of the
    session (union of their intervals, clipped to the session); a registration no applied
    import places gets ``None`` (no report says anything). Records ``why`` and ``user`` in each
    changed row's history. Returns how many rows changed."""
    changed = 0
    wanted = sorted(set(registration_ids))
    intervals: dict[int, list[list[str]]] = {}
    for registration_id, pairs in ImportedParticipant.objects.filter(
        attendance_import__session=session,
        attendance_import__status=AttendanceImport.Status.APPLIED,
        outcome__in=ImportedParticipant.MATCHED,
        registration_id__in=wanted,
    ).values_list("registration_id", "intervals"):
        intervals.setdefault(registration_id, []).extend(pairs)
    rows = {
        row.registration_id: row
        for row in SessionAttendance.objects.select_for_update().filter(
            session=session, registration_id__in=wanted
        )
    }
    for registration_id in wanted:
        minutes: Decimal | None = None
        if registration_id in intervals:
            pairs = _intervals(intervals[registration_id])
            minutes = attended_minutes(pairs, session.starts_at, session.ends_at)
        row = rows.get(registration_id)
        if row is None:
            row = SessionAttendance(registration_id=registration_id, session=session)
        elif row.minutes == minutes:
            continue
        row.minutes = minutes
        row._change_reason = why  # type: ignore[attr-defined]  # simple-history
        row._history_user = user  # type: ignore[attr-defined]
        row.save()
        changed += 1
    return changed


def import_apply(stored: AttendanceImport, *, user: User) -> int:
    """Apply an import in preview: its matched and assigned participants' intervals count.
    Returns how many attendance rows changed.

    Raises: ImportRefused when it is not in preview, when participants are still ambiguous (staff
    must assign or ignore them first), or when the same file was applied meanwhile.
    """
    with transaction.atomic():
        stored = AttendanceImport.objects.select_for_update().get(pk=stored.pk)
        if stored.status != AttendanceImport.Status.PREVIEW:
            raise ImportRefused(f"This import is {stored.get_status_display().lower()}.")
        if hasattr(stored.session, "finalisation"):
            raise ImportRefused("This session's attendance is finalised; it can no longer change.")
        if stored.participants.filter(outcome=Outcome.AMBIGUOUS).exists():
            raise ImportRefused(
                "Some participants fit several registrations: assign or ignore each first."
            )
        if AttendanceImport.objects.filter(
            session_id=stored.session_id,
            sha256=stored.sha256,
            status=AttendanceImport.Status.APPLIED,
        ).exists():
            raise ImportRefused("This file was already applied to this session.")
        stored.status = AttendanceImport.Status.APPLIED
        stored.applied_at, stored.applied_by = timezone.now(), user
        stored.save(update_fields=["status", "applied_at", "applied_by"])
        ids = stored.participants.filter(outcome__in=ImportedParticipant.MATCHED).values_list(
            "registration_id", flat=True
        )
        return recompute(
            stored.session, [i for i in ids if i], user=user, why=f"Import {stored.pk} applied."
        )


def import_undo(stored: AttendanceImport, *, user: User) -> int:
    """Undo an applied import: the minutes of the registrations it placed are computed again
    from the session's other applied imports. Returns how many attendance rows changed.

    Raises: ImportRefused when the import is not applied, or the session's attendance was
    finalised (undo the finalisation's consequences by hand: completion is final).
    """
    with transaction.atomic():
        stored = AttendanceImport.objects.select_for_update().get(pk=stored.pk)
        if stored.status != AttendanceImport.Status.APPLIED:
            raise ImportRefused("Only an applied import can be undone.")
        if hasattr(stored.session, "finalisation"):
            raise ImportRefused("This session's attendance is finalised; it can no longer change.")
        stored.status = AttendanceImport.Status.UNDONE
        stored.undone_at, stored.undone_by = timezone.now(), user
        stored.save(update_fields=["status", "undone_at", "undone_by"])
        ids = stored.participants.exclude(registration=None).values_list(
            "registration_id", flat=True
        )
        return recompute(stored.session, ids, user=user, why=f"Import {stored.pk} undone.")


def import_discard(stored: AttendanceImport) -> None:
    """Drop an import in preview (a wrong file): nothing it said ever counted.

    Raises: ImportRefused when it is not in preview.
    """
    if stored.status != AttendanceImport.Status.PREVIEW:
        raise ImportRefused("Only an import in preview can be discarded.")
    stored.status = AttendanceImport.Status.DISCARDED
    stored.save(update_fields=["status"])
