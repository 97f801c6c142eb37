"""The outbox's table: one row per message that must go out.

The outbox is generic: it knows no sender. Each kind of message is registered by the module that
sends it (``registrations.messaging.outbox.register_kind``), with its label and hooks; the
``kind`` field's choices are read from that registry, so adding a kind needs no migration.
"""

from django.db import models

# name -> label, filled by ``registrations.messaging.outbox.register_kind``.
KIND_LABELS: dict[str, str] = {}


def kind_choices() -> list[tuple[str, str]]:
    """The registered kinds as field choices, sorted by label (callable ``choices``)."""
    return sorted(KIND_LABELS.items(), key=lambda item: item[1])


def kind_label(kind: str) -> str:
    """The label of a registered kind, or the kind itself."""
    return KIND_LABELS.get(kind, kind)


class OutboundEmail(models.Model):
    """One message that must go out, recorded before it is sent.

    ``dedupe_key`` is chosen by the sender and unique, e.g. ``reminder:<registration>:<session>:
    <offset>:<schedule version>``; queuing the same key again finds this row instead of making a
    second message. The row, not the Celery task, decides whether the message still has to go out
    (``registrations.messaging.outbox``). Bodies are rendered from ``template`` + ``context``
    when sent and kept in ``subject``/``text_body``/``html_body`` as the record of what went out.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    kind = models.CharField(max_length=40, choices=kind_choices)
    dedupe_key = models.CharField(max_length=200, unique=True)
    registration = models.ForeignKey(
        "registrations.Registration",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="emails",
        help_text="The registration the message is about, if any.",
    )
    batch = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text="A sender's batch (e.g. broadcast:12): its queued rows are published by the "
        "sender at its own pace, not by the sweeper.",
    )
    to_email = models.EmailField(max_length=254)
    to_name = models.CharField(max_length=400, blank=True)
    template = models.CharField(
        max_length=100, help_text="Under templates/: <name>_subject.txt, <name>.txt, <name>.html."
    )
    context = models.JSONField(default=dict, blank=True)
    attachments = models.JSONField(
        default=list,
        blank=True,
        help_text='List of {"filename", "content_type", "content"} (text content).',
    )
    subject = models.CharField(max_length=998, blank=True)  # RFC 5322 line limit
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    body_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the bodies and context were removed (retention)."
    )
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
        return f"{kind_label(self.kind)} to {self.to_email} ({self.status})"
