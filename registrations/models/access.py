"""Records of staff reading what needs its own permission: accessibility needs, roster exports
(``docs/architecture.md``, "Security and privacy"). Changes are recorded by the audit history; these
record reading."""

from collections.abc import Iterable

from django.conf import settings
from django.db import models


class StaffAccess(models.Model):
    """One time a staff member saw or exported personal data that needs its own permission.

    Who (the account, and its username in case the account is deleted later), when, what
    (``action``) and which objects (``model`` and ``object_ids``). No personal data of the
    attendees is copied here: the ids point at the records, so erasing a person leaves this
    record true and empty of them.
    """

    class Action(models.TextChoices):
        ACCESSIBILITY_NEEDS = "accessibility_needs", "Viewed accessibility needs"
        ROSTER_EXPORT = "roster_export", "Exported a roster"
        PAYMENT_EXPORT = "payment_export", "Exported payments"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    model = models.CharField(max_length=100, help_text='e.g. "registrations.registration"')
    object_ids = models.JSONField(default=list, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "staff access record"
        indexes = [models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"{self.username}: {self.get_action_display()} ({self.at:%Y-%m-%d %H:%M})"

    @classmethod
    def record(
        cls,
        user: object,
        action: str,
        objects: Iterable[models.Model],
        *,
        detail: str = "",
    ) -> "StaffAccess":
        """Record that ``user`` did ``action`` on ``objects`` (model instances of one model).

        Args:
            user: the staff account (``request.user``).
            action: one of ``StaffAccess.Action``.
            objects: the records seen or exported; their model and primary keys are stored.
            detail: a short note without personal data, e.g. "CSV, 12 rows".

        Returns: the new record.
        """
        items = list(objects)
        # A proxy (the review queue) is recorded as its model: the ids are the same records.
        concrete = (items[0]._meta.concrete_model or type(items[0])) if items else None
        label = concrete._meta.label_lower if concrete else ""
        return cls.objects.create(
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "get_username", lambda: "")(),
            action=action,
            model=label,
            object_ids=sorted(item.pk for item in items),
            detail=detail[:300],
        )
