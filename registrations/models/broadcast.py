"""What staff write to the attendees of a class ("email the attendees")."""

from django.conf import settings
from django.db import models

from registrations.enums import BroadcastAudience


class Broadcast(models.Model):
    """A message staff write to the attendees of an offering (or to selected registrations).

    ``subject`` and ``body`` are plain text with placeholders such as ``{first_name}``
    (``registrations.messaging.broadcasts``). Sending creates one ``OutboundEmail`` per
    recipient in the outbox batch ``batch_key`` (``dedupe_key``
    ``broadcast:<broadcast>:<registration>``); those rows are the record of who got it and of
    the progress.
    """

    Audience = BroadcastAudience

    offering = models.ForeignKey(
        "courses.Offering",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="broadcasts",
        help_text="The class whose registrations receive the message.",
    )
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CONFIRMED)
    selected = models.ManyToManyField(
        "registrations.Registration",
        blank=True,
        related_name="+",
        help_text="Recipients when the audience is the selected registrations.",
    )
    subject = models.CharField(max_length=200)
    body = models.TextField(
        help_text="Plain text. Placeholders: {first_name}, {last_name}, {course_title}, "
        "{offering_dates}, {manage_url}, {meeting_url} (confirmed attendees only)."
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pumped_at = models.DateTimeField(
        null=True, blank=True, help_text="Last step of the task that publishes its messages."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "email to attendees"
        verbose_name_plural = "emails to attendees"

    def __str__(self) -> str:
        return self.subject

    @property
    def batch_key(self) -> str:
        """The outbox batch of this broadcast's messages (``OutboundEmail.batch``)."""
        return f"broadcast:{self.pk}"
