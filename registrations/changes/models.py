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
    fee_payment = models.OneToOneField(
        "registrations.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfer",
        help_text="The Checkout payment of the transfer fee, when one was charged.",
    )
    rules_waived = models.BooleanField(
        default=False,
        help_text="Deadline, limit and fee waived: the move was offered because the class was "
        "cancelled.",
    )
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


class ClassCancellation(models.Model):
    """Staff cancelled a class: the reason, what registrants are offered, and when the work
    (emails, refunds, releases) finished. The per-registration outcomes are its
    ``CancellationChoice`` rows; progress is read from them."""

    offering = models.OneToOneField(
        "courses.Offering", on_delete=models.PROTECT, related_name="cancellation"
    )
    reason = models.TextField(max_length=2000, help_text="Told to every registrant.")
    refund_everyone = models.BooleanField(
        default=False,
        help_text="Refund every paid registrant now instead of offering a move to another class.",
    )
    choice_deadline = models.DateTimeField(
        help_text="Registrants who have not chosen a move by then are refunded in full."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When every registrant had been handled and told."
    )
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When every registrant's outcome was settled."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Cancellation of class {self.offering_id}"


class CancellationChoice(models.Model):
    """One registrant of a cancelled class: their state when it was cancelled, the choice they
    made (move or refund), when they were told and how it ended. Unique per cancellation and
    registration, so re-running the cancellation never handles anyone twice."""

    class Choice(models.TextChoices):
        PENDING = "pending", "Not chosen yet"
        TRANSFER = "transfer", "Move to another class"
        REFUND = "refund", "Full refund"
        NONE = "none", "Nothing to choose (not paid)"

    class Outcome(models.TextChoices):
        OPEN = "open", "Open"
        TRANSFERRED = "transferred", "Moved to another class"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled (nothing paid)"
        FAILED = "failed", "Needs staff (see error)"

    cancellation = models.ForeignKey(
        ClassCancellation, on_delete=models.CASCADE, related_name="choices"
    )
    registration = models.ForeignKey(
        "registrations.Registration", on_delete=models.CASCADE, related_name="cancellation_choices"
    )
    state_before = models.CharField(max_length=20, help_text="The registration's state then.")
    choice = models.CharField(max_length=10, choices=Choice.choices, default=Choice.PENDING)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.OPEN)
    notified_at = models.DateTimeField(null=True, blank=True)
    chosen_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    refunded_cents = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cancellation", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["cancellation", "registration"], name="cancellation_choice_once"
            )
        ]

    def __str__(self) -> str:
        return f"Registration {self.registration_id}: {self.get_outcome_display()}"


class Substitution(models.Model):
    """A colleague takes a registration's place: who they are, who they replace, and where
    the change stands. The registration passes to the colleague (with its payment and seat) only
    when their eligibility is established; the snapshot of the original person stays here."""

    class Status(models.TextChoices):
        PENDING_EMAIL = "pending_email", "Waiting for the colleague to confirm"
        PENDING_REVIEW = "pending_review", "Colleague's eligibility under review"
        COMPLETED = "completed", "Completed: the colleague has the place"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REJECTED = "rejected", "Colleague not eligible"
        EXPIRED = "expired", "Expired (not confirmed in time)"

    OPEN_STATUSES = (Status.PENDING_EMAIL, Status.PENDING_REVIEW)

    registration = models.ForeignKey(
        "registrations.Registration", on_delete=models.CASCADE, related_name="substitutions"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_EMAIL)
    actor = models.CharField(max_length=10, choices=ActorKind.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The person being replaced, as they were.
    original_first_name = models.CharField(max_length=150)
    original_last_name = models.CharField(max_length=150)
    original_email = models.EmailField(max_length=254)
    original_work_email = models.EmailField(max_length=254)
    # The colleague: named by the person asking, completed by the colleague.
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    work_email = models.EmailField("colleague's work email", max_length=254)
    email = models.EmailField("colleague's email for course communications", max_length=254)
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="The rest of the colleague's details as they confirmed them (phone, role, "
        "supervisor, time zone, accessibility needs).",
    )
    work_email_confirmed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["registration"],
                condition=models.Q(status__in=["pending_email", "pending_review"]),
                name="substitution_one_open_per_registration",
            )
        ]

    def __str__(self) -> str:
        return f"Substitution on registration {self.registration_id} ({self.status})"
