"""Registrations, their history, eligibility data, policy pages, and the outbound email log."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from localflavor.us.models import USStateField

from courses.models import Offering


class AgencyDomain(models.Model):
    """An email domain staff know belongs to an emergency call center (911 centre / PSAP).

    A confirmed work email on this domain, or on any subdomain of it, makes a registrant eligible
    at once (``registrations.eligibility``). Webmail domains can never be listed.
    """

    domain = models.CharField(max_length=253, unique=True, help_text="e.g. denver911.gov")
    agency_name = models.CharField(max_length=200)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "known agency domain"

    def __str__(self) -> str:
        return f"{self.domain} ({self.agency_name})"

    def clean(self) -> None:
        from .eligibility import validate_agency_domain

        self.domain = validate_agency_domain(self.domain)


class Registration(models.Model):
    """One attendee in one offering, from the form to completion.

    ``state`` changes only through ``registrations.transitions.registration_transition``, which
    enforces DESIGN.md's transition table and writes a ``RegistrationEvent`` for each change.
    """

    class State(models.TextChoices):
        PENDING_EMAIL = "pending_email", "Work email not yet confirmed"
        PENDING_REVIEW = "pending_review", "Eligibility under review"
        ELIGIBLE = "eligible", "Eligible"
        WAITLISTED = "waitlisted", "Waitlisted"
        HELD = "held", "Seat held for payment"
        PROCESSING = "processing", "Payment processing"
        EXPIRED = "expired", "Seat hold expired"
        CONFIRMED = "confirmed", "Confirmed"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Not eligible"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    INACTIVE_STATES = (State.REJECTED, State.CANCELLED, State.REFUNDED)

    class Role(models.TextChoices):
        CALL_TAKER = "call_taker", "Call-taker"
        DISPATCHER = "dispatcher", "Dispatcher"
        SUPERVISOR = "supervisor", "Supervisor"
        TRAINER = "trainer", "Trainer"
        OTHER = "other", "Other"

    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="registrations")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING_EMAIL)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    email = models.EmailField("email for course communications", max_length=254)
    pending_email = models.EmailField(
        blank=True, max_length=254, help_text="A new course email awaiting confirmation."
    )
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    employer_name = models.CharField("emergency communications center", max_length=200)
    employer_city = models.CharField("city", max_length=120)
    employer_state = USStateField("state")
    work_email = models.EmailField("work email at the agency", max_length=254)
    work_email_confirmed_at = models.DateTimeField(null=True, blank=True)
    supervisor_name = models.CharField(max_length=200)
    supervisor_email = models.EmailField(max_length=254)
    supervisor_confirmed_at = models.DateTimeField(null=True, blank=True)
    attested_at = models.DateTimeField(help_text="Attested current employment at a 911 center.")
    participation_acknowledged_at = models.DateTimeField(
        help_text="Acknowledged the live online format with camera and microphone on."
    )
    terms_accepted_at = models.DateTimeField()
    accessibility_needs = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="The browser's IANA time zone when registering."
    )
    hold_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While held: when the seat is released unless paid."
    )
    hold_is_offer = models.BooleanField(
        default=False, help_text="The hold is a waitlist offer (lapsing leaves the waitlist)."
    )
    waitlisted_at = models.DateTimeField(
        null=True, blank=True, help_text="Place in the waitlist: first come, first offered."
    )
    needs_attention = models.BooleanField(
        default=False, help_text="Something here needs a person: see the history."
    )
    attention_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "offering",
                condition=~Q(state__in=["rejected", "cancelled", "refunded"]),
                name="registration_one_active_per_email_and_offering",
                violation_error_message="This email already has an active registration for "
                "this class.",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["offering", "state"]),
            models.Index(fields=["state", "hold_expires_at"]),
        ]
        permissions = [("view_accessibility_needs", "Can view attendees' accessibility needs")]

    def __str__(self) -> str:
        return f"{self.full_name} — {self.offering}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.state not in self.INACTIVE_STATES


class RefundPolicy(models.Model):
    """A course's refund rules, the single source of what an attendee gets back on cancelling.

    Full refund until ``full_refund_days`` days before the first session; then
    ``partial_refund_percent`` percent until ``partial_refund_days`` days before; after that none.
    The wording on the terms page is generated from these numbers (``registrations.refunds``).
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

    class Status(models.TextChoices):
        CREATING = "creating", "Creating checkout"
        OPEN = "open", "Checkout open"
        PROCESSING = "processing", "Payment processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        EXPIRED = "expired", "Checkout expired"

    registration = models.ForeignKey(
        Registration, on_delete=models.PROTECT, related_name="payments"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATING)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    idempotency_key = models.CharField(max_length=100, unique=True)
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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One checkout in progress per registration: a double click cannot open two.
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(status__in=["creating", "open"]),
                name="payment_one_open_checkout_per_registration",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents / 100:.2f} {self.currency.upper()} ({self.status})"

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.amount_refunded_cents if self.status == "paid" else 0


class Refund(models.Model):
    """Money sent back through Stripe for a payment (cents), with who asked and why."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="refund_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount_cents / 100:.2f} ({self.status})"


class WebhookEvent(models.Model):
    """Each Stripe event, stored once by id; processing is idempotent and order-independent."""

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


class RegistrationEvent(models.Model):
    """One recorded change of a registration: a state transition or a notable edit."""

    class Actor(models.TextChoices):
        ATTENDEE = "attendee", "Attendee"
        SUPERVISOR = "supervisor", "Supervisor"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    actor = models.CharField(max_length=10, choices=Actor.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        change = f"{self.from_state} → {self.to_state}" if self.to_state else "note"
        return f"{change} by {self.actor}"


class PolicyPage(models.Model):
    """A page whose text staff edit in the admin: the course terms and the privacy notice."""

    class Slug(models.TextChoices):
        TERMS = "terms", "Course terms"
        PRIVACY = "privacy", "Privacy notice"

    slug = models.CharField(max_length=20, choices=Slug.choices, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain text; blank lines separate paragraphs.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title


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
        CONFIRM_WORK_EMAIL = "confirm_work_email", "Confirm work email"
        CONFIRM_NEW_EMAIL = "confirm_new_email", "Confirm new course email"
        SUPERVISOR_CONFIRMATION = "supervisor_confirmation", "Supervisor confirmation request"
        UNDER_REVIEW = "under_review", "Eligibility under review"
        ELIGIBLE = "eligible", "Eligible"
        REJECTED = "rejected", "Not eligible"
        MANAGE_LINK = "manage_link", "Manage link"
        CANCELLED = "cancelled", "Registration cancelled"
        WAITLIST_JOINED = "waitlist_joined", "Joined the waitlist"
        WAITLIST_OFFER = "waitlist_offer", "Waitlist seat offer"
        WAITLIST_LEFT = "waitlist_left", "Left the waitlist"
        HOLD_LAPSED = "hold_lapsed", "Seat hold ended unpaid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        REFUND_ISSUED = "refund_issued", "Refund issued"
        STAFF_ALERT = "staff_alert", "Staff alert"
        CONFIRMATION = "confirmation", "Confirmation with calendar invitation"
        REMINDER = "reminder", "Reminder"
        UPDATE = "update", "Change of time or meeting link"
        PLACE_ENDED = "place_ended", "Place ended (calendar cancellation)"
        BROADCAST = "broadcast", "Message from staff (broadcast)"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    dedupe_key = models.CharField(max_length=200, unique=True)
    registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    broadcast = models.ForeignKey(
        "Broadcast", null=True, blank=True, on_delete=models.PROTECT, related_name="emails"
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


class Broadcast(models.Model):
    """A message staff write to the attendees of an offering (or to selected registrations).

    ``subject`` and ``body`` are plain text with placeholders such as ``{first_name}``
    (``registrations.broadcasts``). Sending creates one ``OutboundEmail`` per recipient
    (``dedupe_key`` ``broadcast:<broadcast>:<registration>``), which are the record of who got
    it and of the progress.
    """

    class Audience(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed attendees"
        WAITLISTED = "waitlisted", "Waitlisted"
        PAYING = "paying", "Seat held or payment processing"
        ACTIVE = "active", "Everyone with an active registration"
        SELECTED = "selected", "The registrations selected in the list"

    offering = models.ForeignKey(
        Offering,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="broadcasts",
        help_text="The class whose registrations receive the message.",
    )
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CONFIRMED)
    selected = models.ManyToManyField(
        Registration,
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


class RegistrationUnderReview(Registration):
    """The eligibility review queue in the admin (registrations in ``pending_review``)."""

    class Meta:
        proxy = True
        verbose_name = "registration under review"
        verbose_name_plural = "eligibility review queue"
