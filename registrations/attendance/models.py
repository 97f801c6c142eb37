"""Attendance: per registration and session, from participants reports and staff's marks.

``SessionAttendance`` is the one row per (registration, session) that completion reads; its
history (simple-history) records every change with who made it and from which import. An
``AttendanceImport`` is one uploaded report for one session with its participants
(``ImportedParticipant``): previewed, then applied (its intervals count), and possibly undone.
``SessionFinalisation`` records that staff closed a session's attendance
(``docs/architecture.md``, "Attendance").
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class AttendanceImport(models.Model):
    """One participants report uploaded for one session."""

    class Status(models.TextChoices):
        PREVIEW = "preview", "Previewed, not applied"
        APPLIED = "applied", "Applied"
        UNDONE = "undone", "Undone"
        DISCARDED = "discarded", "Discarded"

    session = models.ForeignKey(
        "courses.Session", on_delete=models.PROTECT, related_name="attendance_imports"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEW)
    platform = models.CharField(max_length=10)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(
        max_length=64, help_text="Of the uploaded bytes: the same file twice."
    )
    encoding = models.CharField(max_length=40, blank=True)
    report_starts_at = models.DateTimeField()
    report_ends_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "attendance import"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "sha256"],
                condition=Q(status="applied"),
                name="attendance_import_one_applied_copy",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} report {self.filename or self.pk} ({self.status})"

    def get_platform_display(self) -> str:
        """The platform's name as staff know it."""
        return {"zoom": "Zoom", "teams": "Microsoft Teams"}.get(self.platform, "Participants")


class ImportedParticipant(models.Model):
    """One participant of an import: the rows of one person, whom they were matched to, and
    staff's decision for those the matching could not place."""

    class Outcome(models.TextChoices):
        EMAIL = "email", "Matched by email"
        NAME = "name", "Matched by name"
        ASSIGNED = "assigned", "Assigned by staff"
        AMBIGUOUS = "ambiguous", "Ambiguous: several registrations fit"
        UNMATCHED = "unmatched", "Not matched"
        IGNORED = "ignored", "Ignored by staff"
        HOST = "host", "Host or instructor (left out)"

    MATCHED = (Outcome.EMAIL, Outcome.NAME, Outcome.ASSIGNED)

    attendance_import = models.ForeignKey(
        AttendanceImport, on_delete=models.CASCADE, related_name="participants"
    )
    name = models.CharField(max_length=300, blank=True)
    email = models.CharField(max_length=320, blank=True)
    lines = models.CharField(max_length=200, help_text="Lines of the file, e.g. '4, 5'.")
    intervals = models.JSONField(help_text="[[joined ISO, left ISO], …] as the report wrote them.")
    minutes = models.DecimalField(
        max_digits=6, decimal_places=1, help_text="Inside the session, overlaps counted once."
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    registration = models.ForeignKey(
        "registrations.Registration",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="imported_attendance",
    )
    candidates = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name or self.email} ({self.get_outcome_display()})"


class SessionAttendance(models.Model):
    """Whether one registration attended one session, and for how many minutes.

    ``minutes`` is the union of the applied imports' intervals (None before any import);
    ``marked`` is staff's own mark, which wins over the minutes; ``excused_reason`` records an
    exception staff granted (the session counts as attended)."""

    class Mark(models.TextChoices):
        NONE = "", "From the reports"
        PRESENT = "present", "Present"
        ABSENT = "absent", "Absent"

    registration = models.ForeignKey(
        "registrations.Registration", on_delete=models.CASCADE, related_name="attendance"
    )
    session = models.ForeignKey(
        "courses.Session", on_delete=models.PROTECT, related_name="attendance"
    )
    minutes = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    marked = models.CharField(max_length=10, choices=Mark.choices, default="", blank=True)
    excused_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "session attendance"
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "session"], name="attendance_one_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.registration} — {self.session}"

    def attended(self, minimum_minutes: Decimal) -> bool:
        """True when this session counts as attended: excused, marked present, or (unmarked)
        at least ``minimum_minutes`` from the reports."""
        if self.excused_reason:
            return True
        if self.marked:
            return self.marked == self.Mark.PRESENT
        return self.minutes is not None and self.minutes >= minimum_minutes


class SessionFinalisation(models.Model):
    """Staff closed a session's attendance: completion and the short-attendance emails follow."""

    session = models.OneToOneField(
        "courses.Session", on_delete=models.PROTECT, related_name="finalisation"
    )
    finalised_at = models.DateTimeField(auto_now_add=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Attendance of {self.session} finalised"
