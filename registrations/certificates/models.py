"""Certificates of completion: one per completed registration, under a number that cannot be
guessed, verifiable by anyone at ``/certificates/<number>/`` (``docs/architecture.md``,
"Certificates")."""

from django.db import models
from simple_history.models import HistoricalRecords


class Certificate(models.Model):
    """What a certificate states, frozen when it is issued (and again when reissued after a
    name correction, under the same number); revoked with a reason, never deleted."""

    registration = models.OneToOneField(
        "registrations.Registration", on_delete=models.PROTECT, related_name="certificate"
    )
    number = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=301, help_text="The attendee's name as printed.")
    course_title = models.CharField(max_length=200)
    dates_label = models.CharField(max_length=100, help_text='e.g. "December 12–13, 2024".')
    contact_hours = models.DecimalField(max_digits=5, decimal_places=2)
    credits = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        help_text="CE credits: minutes of instruction / minutes per credit.",
    )
    ceus = models.DecimalField(max_digits=5, decimal_places=2, help_text="Contact hours / 10.")
    instructors = models.CharField(max_length=500, blank=True)
    provider = models.CharField(max_length=200)
    issued_at = models.DateTimeField()
    reissued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Certificate {self.number}: {self.name}"

    @property
    def is_revoked(self) -> bool:
        """True once staff revoked it."""
        return self.revoked_at is not None
