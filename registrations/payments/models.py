"""Money: Checkout Sessions and their payments, refunds, refund policies, Stripe's events.

Amounts are integer cents. The rows refer to registrations and courses by string foreign keys, so
this module imports nothing of the app but its states.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from registrations.enums import OPEN_CHECKOUT_STATUSES, PaymentStatus, RefundStatus


class RefundPolicy(models.Model):
    """A course's refund rules, the single source of what an attendee gets back on cancelling.

    Full refund until ``full_refund_days`` days before the first session; then
    ``partial_refund_percent`` percent until ``partial_refund_days`` days before; after that none.
    The wording on the terms page is generated from these numbers
    (``registrations.payments.policy``).
    """

    course = models.OneToOneField(
        "courses.Course", on_delete=models.CASCADE, related_name="refund_policy"
    )
    full_refund_days = models.PositiveSmallIntegerField(
        default=14, help_text="Full refund when cancelling at least this many days before."
    )
    partial_refund_percent = models.PositiveSmallIntegerField(
        default=50, help_text="Percent refunded after that (0 for none)."
    )
    partial_refund_days = models.PositiveSmallIntegerField(
        default=3, help_text="The partial refund applies until this many days before."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "refund policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(partial_refund_percent__lte=100), name="refund_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=Q(partial_refund_days__lte=models.F("full_refund_days")),
                name="refund_partial_window_after_full",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund policy for {self.course}"


class Payment(models.Model):
    """One Stripe Checkout Session for one seat hold, and what became of its money (cents)."""

    Status = PaymentStatus

    registration = models.ForeignKey(
        "registrations.Registration", on_delete=models.PROTECT, related_name="payments"
    )

    class Purpose(models.TextChoices):
        TUITION = "tuition", "Tuition"
        TRANSFER_FEE = "transfer_fee", "Transfer fee"

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATING)
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.TUITION)
    transfer_to = models.ForeignKey(
        "courses.Offering",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For a transfer fee: the class the registration moves to once it is paid; "
        "the open checkout holds a seat there until it expires.",
    )
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    idempotency_key = models.CharField(max_length=100, unique=True)
    nonce = models.CharField(
        max_length=64,
        blank=True,
        help_text="Written into the Checkout Session's metadata at creation: a session citreg did "
        "not store is adopted only when it carries this nonce (payments.settlement).",
    )
    stripe_checkout_session_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    amount_refunded_cents = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["checkout_url"])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One checkout in progress per registration: a double click cannot open two.
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(status__in=OPEN_CHECKOUT_STATUSES),
                name="payment_one_open_checkout_per_registration",
            ),
            models.CheckConstraint(
                condition=Q(purpose="tuition", transfer_to__isnull=True)
                | Q(purpose="transfer_fee", transfer_to__isnull=False),
                name="payment_transfer_fee_names_its_class",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents / 100:.2f} {self.currency.upper()} ({self.status})"

    @property
    def refundable_cents(self) -> int:
        paid = self.status == PaymentStatus.PAID
        return self.amount_cents - self.amount_refunded_cents if paid else 0


class Refund(models.Model):
    """Money sent back through Stripe for a payment (cents), with who asked and why."""

    Status = RefundStatus

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    automatic = models.BooleanField(default=False, help_text="Issued by the system, not staff.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="refund_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount_cents / 100:.2f} ({self.status})"


class WebhookEvent(models.Model):
    """Each Stripe event, stored once by id; processing is idempotent and order-independent.

    ``outcome`` says what citreg made of it; an event it refused (a session it did not create,
    an amount or currency other than the one it asked for, a malformed object) is kept with the
    reason in ``detail`` and changed nothing. The payload is removed after the retention period;
    the row stays, so a replay is still recognised.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Not processed yet"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (type not used)"
        REFUSED = "refused", "Refused (not citreg's payment)"
        MALFORMED = "malformed", "Malformed"

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    detail = models.TextField(blank=True)
    payload_removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"
