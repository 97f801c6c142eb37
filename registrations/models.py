"""Registration data. For now: the outbound email log that every message goes through."""

from django.db import models


class OutboundEmail(models.Model):
    """One message that must go out, recorded before it is sent.

    ``dedupe_key`` is chosen by the sender and unique, e.g. ``reminder:<registration>:<session>:
    <offset>:<schedule version>``; queuing the same key again finds this row instead of making a
    second message. The row, not the Celery task, decides whether the message still has to go out
    (``registrations.emails``). Bodies are rendered from ``template`` + ``context`` when sent and
    kept in ``subject``/``text_body``/``html_body`` as the record of what went out.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Kind(models.TextChoices):
        TEST = "test", "Test message"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    dedupe_key = models.CharField(max_length=200, unique=True)
    to_email = models.EmailField(max_length=254)
    to_name = models.CharField(max_length=200, blank=True)
    template = models.CharField(
        max_length=100, help_text="Under templates/: <name>_subject.txt, <name>.txt, <name>.html."
    )
    context = models.JSONField(default=dict, blank=True)
    attachments = models.JSONField(
        default=list,
        blank=True,
        help_text='List of {"filename", "content_type", "content"} (text content).',
    )
    subject = models.CharField(max_length=300, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["kind", "status"]),
        ]
        verbose_name = "outbound email"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email} ({self.status})"
