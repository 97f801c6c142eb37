"""Admin: a session's attendance sheet, importing a participants report, and its preview.

``/admin/courses/session/<id>/attendance/`` lists the class's attendees with their minutes, the
minimum, staff's mark and any excuse, takes a report to import, lists the session's imports (with
Undo), and finalises the session. ``/admin/registrations/attendanceimport/<id>/review/`` is an
import's preview: matched, unmatched and ambiguous participants, staff's assignments, Apply,
Discard. Every rule is in ``registrations.attendance``; instructors reach only the classes
assigned to them (``roles.may_see_offering``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from courses.admin import register_offering_panel
from courses.models import Offering, Session
from registrations import roles
from registrations.attendance import completion, imports
from registrations.attendance.models import (
    AttendanceImport,
    ImportedParticipant,
    SessionAttendance,
)
from registrations.attendance.reports import MAX_REPORT_BYTES, ReportError
from registrations.models import Registration
from registrations.reports.roster import RosterColumn, register_column

from .guards import ReadOnlyAdmin

VIEW_ATTENDANCE = "registrations.view_sessionattendance"
DECIDE_IMPORT = "registrations.change_attendanceimport"
IGNORE = "ignore"


class ReportUploadForm(forms.Form):
    """The participants report to import (Zoom CSV or Teams attendance report)."""

    report = forms.FileField(
        label="Participants report",
        help_text="Zoom's participants CSV or Microsoft Teams' attendance report, as downloaded "
        "(CSV or tab-separated; UTF-8 or UTF-16).",
    )

    def clean_report(self):
        report = self.cleaned_data["report"]
        if report.size > MAX_REPORT_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MB: is it the "
                "participants report?"
            )
        return report


def _session_for(request: HttpRequest, session_id: int) -> Session:
    session = get_object_or_404(Session.objects.select_related("offering__course"), pk=session_id)
    if not request.user.has_perm(VIEW_ATTENDANCE) or not roles.may_see_offering(
        request.user, session.offering
    ):
        raise PermissionDenied
    return session


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def attendance_rows(session: Session) -> list[dict]:
    """One row per attendee of ``session`` for the sheet: the registration, its attendance row
    (or None), and whether the session counts as attended."""
    minimum = completion.minimum_minutes(session)
    rows = {row.registration_id: row for row in SessionAttendance.objects.filter(session=session)}
    return [
        {
            "registration": registration,
            "attendance": rows.get(registration.pk),
            "attended": bool(rows.get(registration.pk)) and rows[registration.pk].attended(minimum),
        }
        for registration in imports.attendees(session)
    ]


def _rows(count: int) -> str:
    return f"{count} attendance row{'' if count == 1 else 's'}"


def _save_marks(request: HttpRequest, session: Session) -> int:
    """Apply the sheet's changed marks and excuses; returns how many rows changed."""
    _require(request, roles.MARK_ATTENDANCE)
    changed = 0
    for item in attendance_rows(session):
        registration, row = item["registration"], item["attendance"]
        mark = request.POST.get(f"mark-{registration.pk}")
        if mark is not None and mark != (row.marked if row else ""):
            completion.attendance_mark(registration, session, mark, user=request.user)
            changed += 1
        excuse = request.POST.get(f"excuse-{registration.pk}")
        if excuse is not None and excuse.strip() != (row.excused_reason if row else ""):
            completion.attendance_excuse(registration, session, reason=excuse, user=request.user)
            changed += 1
    return changed


def session_attendance(request: HttpRequest, session_id: int) -> HttpResponse:
    """The attendance sheet of one session (GET), and its buttons (POST ``action``: ``marks``,
    ``import``, ``undo``, ``finalise``)."""
    session = _session_for(request, session_id)
    here = reverse("admin:session_attendance", args=[session.pk])
    form = ReportUploadForm()
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "marks":
                changed = _save_marks(request, session)
                messages.success(request, f"Attendance saved ({changed} change(s)).")
                return HttpResponseRedirect(here)
            if action == "import":
                _require(request, roles.IMPORT_ATTENDANCE)
                form = ReportUploadForm(request.POST, request.FILES)
                if form.is_valid():
                    upload = form.cleaned_data["report"]
                    stored = imports.import_preview(
                        session, upload.read(), filename=upload.name or "", user=request.user
                    )
                    return HttpResponseRedirect(
                        reverse("admin:attendance_import_review", args=[stored.pk])
                    )
            elif action == "undo":
                _require(request, DECIDE_IMPORT)
                stored = get_object_or_404(
                    AttendanceImport, pk=request.POST.get("import"), session=session
                )
                changed = imports.import_undo(stored, user=request.user)
                messages.success(request, f"Import undone ({_rows(changed)} changed).")
                return HttpResponseRedirect(here)
            elif action == "finalise":
                _require(request, roles.FINALISE_ATTENDANCE)
                if request.POST.get("complete") != "yes":
                    messages.error(
                        request,
                        "Tick “All reports are imported and the marks are right” to finalise: "
                        "finalising cannot be undone.",
                    )
                    return HttpResponseRedirect(here)
                outcome = completion.session_finalise(session, user=request.user)
                messages.success(
                    request,
                    f"Attendance finalised: {len(outcome['completed'])} registration(s) "
                    f"completed, {len(outcome['short'])} attendee(s) told they fell short.",
                )
                return HttpResponseRedirect(here)
        except ReportError as error:
            form.add_error("report", error.message if not error.line else str(error))
        except imports.ImportRefused as refused:
            messages.error(request, str(refused))
            if action != "import":
                return HttpResponseRedirect(here)
    finalisation = getattr(session, "finalisation", None)
    return TemplateResponse(
        request,
        "admin/registrations/attendance/session.html",
        {
            **admin.site.each_context(request),
            "title": f"Attendance: {session}",
            "session": session,
            "offering": session.offering,
            "rows": attendance_rows(session),
            "minimum": completion.minimum_minutes(session),
            "minimum_percent": session.offering.course.attendance_minimum_percent,
            "marks": SessionAttendance.Mark.choices,
            "form": form,
            "imports": session.attendance_imports.select_related("uploaded_by").order_by(
                "-created_at"
            ),
            "finalisation": finalisation,
            "started": session.starts_at <= timezone.now(),
            "ended": session.ends_at <= timezone.now(),
            "can_mark": request.user.has_perm(roles.MARK_ATTENDANCE) and not finalisation,
            "can_import": request.user.has_perm(roles.IMPORT_ATTENDANCE) and not finalisation,
            "can_decide": request.user.has_perm(DECIDE_IMPORT) and not finalisation,
            "can_finalise": request.user.has_perm(roles.FINALISE_ATTENDANCE) and not finalisation,
        },
    )


def import_review(request: HttpRequest, import_id: int) -> HttpResponse:
    """An import's preview (GET) and its buttons (POST ``action``: ``decide``, ``apply``,
    ``discard``)."""
    stored = get_object_or_404(
        AttendanceImport.objects.select_related("session__offering__course"), pk=import_id
    )
    session = _session_for(request, stored.session_id)
    here = reverse("admin:attendance_import_review", args=[stored.pk])
    sheet = reverse("admin:session_attendance", args=[session.pk])
    attendees = list(imports.attendees(session))
    by_id = {registration.pk: registration for registration in attendees}
    if request.method == "POST":
        _require(request, DECIDE_IMPORT)
        action = request.POST.get("action")
        try:
            if action in ("decide", "apply"):
                for participant in stored.participants.exclude(
                    outcome=ImportedParticipant.Outcome.HOST
                ):
                    choice = request.POST.get(f"assign-{participant.pk}")
                    if not choice:
                        continue
                    if choice == IGNORE:
                        imports.participant_assign(participant, None)
                    elif choice.isdigit() and int(choice) in by_id:
                        if participant.registration_id != int(choice):
                            imports.participant_assign(participant, by_id[int(choice)])
            if action == "apply":
                changed = imports.import_apply(stored, user=request.user)
                messages.success(request, f"Import applied: {_rows(changed)} changed.")
                return HttpResponseRedirect(sheet)
            if action == "discard":
                imports.import_discard(stored)
                messages.success(request, "Import discarded: nothing it said counts.")
                return HttpResponseRedirect(sheet)
            messages.success(request, "Decisions saved.")
        except imports.ImportRefused as refused:
            messages.error(request, str(refused))
        return HttpResponseRedirect(here)
    participants = list(stored.participants.select_related("registration"))
    groups = {
        outcome: [p for p in participants if p.outcome == outcome]
        for outcome in ImportedParticipant.Outcome.values
    }
    return TemplateResponse(
        request,
        "admin/registrations/attendance/import.html",
        {
            **admin.site.each_context(request),
            "title": f"{stored.get_platform_display()} report for {session}",
            "stored": stored,
            "session": session,
            "offering": session.offering,
            "participants": participants,
            "counts": {
                "matched": sum(len(groups[o]) for o in ImportedParticipant.MATCHED),
                "unmatched": len(groups["unmatched"]),
                "ambiguous": len(groups["ambiguous"]),
                "ignored": len(groups["ignored"]),
                "host": len(groups["host"]),
            },
            "attendees": attendees,
            "minimum": completion.minimum_minutes(session),
            "preview": stored.status == AttendanceImport.Status.PREVIEW,
            "can_decide": request.user.has_perm(DECIDE_IMPORT),
            "ignore": IGNORE,
        },
    )


admin.site.register_view(
    "courses/session/<int:session_id>/attendance/", session_attendance, "session_attendance"
)
admin.site.register_view(
    "registrations/attendanceimport/<int:import_id>/review/",
    import_review,
    "attendance_import_review",
)


@register_offering_panel
def attendance_panel(offering: Offering) -> str:
    """Links to each session's attendance sheet, on the offering's admin page."""
    sessions = offering.session_list
    if not sessions:
        return ""
    links = format_html_join(
        " · ",
        '<a href="{}">Day {}</a>',
        (
            (reverse("admin:session_attendance", args=[session.pk]), number)
            for number, session in enumerate(sessions, start=1)
        ),
    )
    return format_html("<p><strong>Attendance:</strong> {}</p>", links)


def attendance_summary(registration: Registration) -> str:
    """The roster's "Attendance" cell: each started session's minutes and whether it counts,
    e.g. "Day 1: 237.6 min ✓; Day 2: absent". Reads the prefetched sessions and attendance."""
    rows = {row.session_id: row for row in registration.attendance.all()}
    now = timezone.now()
    parts = []
    for number, session in enumerate(registration.offering.session_list, start=1):
        if session.starts_at > now:
            continue
        row = rows.get(session.pk)
        if row is None:
            parts.append(f"Day {number}: —")
            continue
        counted = "✓" if row.attended(completion.minimum_minutes(session)) else "✗"
        said = (
            row.get_marked_display().lower()
            if row.marked
            else (f"{row.minutes} min" if row.minutes is not None else "—")
        )
        parts.append(f"Day {number}: {said}{' (excused)' if row.excused_reason else ''} {counted}")
    return "; ".join(parts)


register_column(RosterColumn("attendance", attendance_summary))


@admin.register(AttendanceImport)
class AttendanceImportAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Every import, for the record; each opens its preview."""

    list_display = ["__str__", "session", "status", "uploaded_by", "created_at", "review"]
    list_filter = ["status", "platform"]
    list_select_related = ["session__offering__course", "uploaded_by"]

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        if roles.limited_to_assigned_classes(request.user):
            queryset = queryset.filter(session__offering__instructors=request.user)
        return queryset

    @admin.display(description="Preview")
    def review(self, stored: AttendanceImport) -> str:
        return format_html(
            '<a href="{}">Open</a>', reverse("admin:attendance_import_review", args=[stored.pk])
        )
