"""Registrations and their recorded history."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from localflavor.us.models import USStateField
from simple_history.models import HistoricalRecords

from courses.models import Offering
from registrations.enums import INACTIVE_STATES, ActorKind, RegistrationState, Role


class Registration(models.Model):
    """One attendee in one offering, from the form to completion.

    ``state`` changes only through ``registrations.transitions.registration_transition``, which
    enforces the transition table (``docs/architecture.md``) and writes a ``RegistrationEvent``
    for each change.
    """

    State = RegistrationState
    Role = Role
    INACTIVE_STATES = INACTIVE_STATES

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
    sensitive_details_removed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When accessibility needs, phone and supervisor details were removed "
        "(retention, docs/architecture.md).",
    )
    anonymised_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the person's name and addresses were removed (retention or erasure).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed what, when. Accessibility needs and the phone number are left out: each has a
    # permission of its own, and the history must not show them to every viewer.
    history = HistoricalRecords(excluded_fields=["accessibility_needs", "phone"])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "offering",
                condition=~Q(state__in=INACTIVE_STATES),
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
        # Every staff action checks one of these (docs/architecture.md, "Roles").
        permissions = [
            ("issue_refund", "Can issue refunds"),
            ("list_agency_domain", "Can list an agency's email domain"),
            ("send_broadcast", "Can send an email to a class"),
            ("export_roster", "Can export rosters"),
            ("view_contact_details", "Can view attendees' phone numbers"),
            ("view_email_body", "Can open the body of an email sent to an attendee"),
            ("view_accessibility_needs", "Can view attendees' accessibility needs"),
            ("erase_personal_data", "Can erase a person's personal data on request"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} — {self.offering}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.state not in INACTIVE_STATES


class RegistrationEvent(models.Model):
    """One recorded change of a registration: a state transition or a notable edit."""

    Actor = ActorKind

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


class RegistrationUnderReview(Registration):
    """The eligibility review queue in the admin (registrations in ``pending_review``)."""

    class Meta:
        proxy = True
        verbose_name = "registration under review"
        verbose_name_plural = "eligibility review queue"
