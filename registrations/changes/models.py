"""The record of a registration's moves to another class (``docs/architecture.md``, "Flows",
"Transfers")."""

from django.conf import settings
from django.db import models

from registrations.enums import ActorKind


class Transfer(models.Model):
    """One move of a registration from one class to another of the same course: who made it,
    when, and the fee charged for it (integer cents; 0 for none)."""

    registration = models.ForeignKey(
        "registrations.Registration", on_delete=models.CASCADE, related_name="transfers"
    )
    from_offering = models.ForeignKey(
        "courses.Offering", on_delete=models.PROTECT, related_name="transfers_out"
    )
    to_offering = models.ForeignKey(
        "courses.Offering", on_delete=models.PROTECT, related_name="transfers_in"
    )
    actor = models.CharField(max_length=10, choices=ActorKind.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fee_cents = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(from_offering=models.F("to_offering")),
                name="transfer_to_another_offering",
            )
        ]

    def __str__(self) -> str:
        moved = f"{self.from_offering_id} → {self.to_offering_id}"
        return f"Transfer of registration {self.registration_id}: {moved}"
