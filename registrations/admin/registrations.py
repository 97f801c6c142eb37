"""Admin: registrations (with history, payments and emails), the eligibility review queue,
agency domains and policy pages. Admin actions call the services; they hold no rules.

Who sees and does what is ``registrations.roles``: each field of a registration needs the
permission the field rule names (``guards.RegistrationFieldGuard``), and each action names the
permission it needs (``allowed_permissions``; Django leaves an action out of the list, and
refuses to run it, for a user without it). Approving and rejecting need the review permission
(change on the review-queue proxy) from the registration list and the queue alike; editing a
registration's own fields needs change on registrations, wherever it is opened. Opening a
registration whose accessibility needs are shown is recorded (``StaffAccess``), and so is
exporting a roster.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from simple_history.manager import SIMPLE_HISTORY_REVERSE_ATTR_NAME

from courses.admin import HistoryAdmin
from registrations import eligibility, roles
from registrations.enums import INACTIVE_STATES, BroadcastAudience, RegistrationState
from registrations.forms import RefundForm, RejectForm
from registrations.messaging.models import OutboundEmail
from registrations.models import (
    AgencyDomain,
    PolicyPage,
    Registration,
    RegistrationEvent,
    RegistrationUnderReview,
    StaffAccess,
)
from registrations.payments import cancellation, checkout, refunds
from registrations.payments.gateway import PaymentProviderError
from registrations.payments.models import Payment
from registrations.transitions import Actor, IllegalTransition

from .erasure import ErasureActionMixin
from .guards import RegistrationFieldGuard, recorded_export

# Fields the audit history of a registration keeps (phone and accessibility needs are left out
# of it, ``Registration.history``): a version's page shows only these.
HISTORY_FIELDS = frozenset(field.name for field in Registration.history.model._meta.fields)


class RegistrationEventInline(admin.TabularInline):
    model = RegistrationEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_state", "to_state", "actor", "staff_user", "reason"]
    readonly_fields = fields
    verbose_name_plural = "History"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OutboundEmailInline(admin.TabularInline):
    """The registration's emails; each opens on the email log's page (bodies there need
    ``view_email_body``)."""

    model = OutboundEmail
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["created_at", "kind", "to_email", "status", "sent_at"]
    readonly_fields = fields
    verbose_name_plural = "Emails"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = [
        "created_at", "status", "amount_cents", "amount_refunded_cents", "paid_at",
        "stripe_checkout_session_id", "stripe_payment_intent_id",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RegistrationAdminForm(forms.ModelForm):
    """Staff may correct the course email, but not onto another active registration's address
    for the same class (the database would refuse it; this says so beside the field)."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        registration = self.instance
        clash = (
            Registration.objects.filter(offering_id=registration.offering_id, email__iexact=email)
            .exclude(state__in=INACTIVE_STATES)
            .exclude(pk=registration.pk)
            .exists()
        )
        if clash and registration.is_active:
            raise forms.ValidationError(
                "Another active registration for this class already uses this email."
            )
        return email


TAKING_PART_FIELDS = [
    "offering", "state", "needs_attention", "attention_reason", "hold_expires_at",
    "waitlisted_at", "created_at", "updated_at", "accessibility_needs",
    "sensitive_details_removed_at", "anonymised_at",
]  # fmt: skip
PERSON_FIELDS = ["first_name", "last_name", "email", "pending_email", "phone", "role", "time_zone"]
EMPLOYMENT_FIELDS = [
    "employer_name", "employer_city", "employer_state", "work_email", "work_email_confirmed_at",
    "supervisor_name", "supervisor_email", "supervisor_confirmed_at", "attested_at",
    "participation_acknowledged_at", "terms_accepted_at",
]  # fmt: skip
FIELDSETS = [
    (None, TAKING_PART_FIELDS),
    ("Attendee", PERSON_FIELDS),
    ("Employment and eligibility", EMPLOYMENT_FIELDS),
]
# A roster: (column, field), each column only for a user who may see its field.
ROSTER_COLUMNS = [
    ("registration", "id"), ("first name", "first_name"), ("last name", "last_name"),
    ("course email", "email"), ("phone", "phone"), ("role", "role"),
    ("agency", "employer_name"), ("city", "employer_city"), ("state", "employer_state"),
    ("class", "offering"), ("status", "state"),
]  # fmt: skip


def roster_rows(queryset: QuerySet[Registration], visible: frozenset[str]):
    """The roster of ``queryset`` as CSV rows (header first), with the columns whose field is
    in ``visible``; choices as their labels, the class as its name."""
    columns = [(title, name) for title, name in ROSTER_COLUMNS if name in visible]
    yield [title for title, _ in columns]
    for registration in queryset.select_related("offering__course").order_by(
        "offering__starts_on", "last_name", "first_name", "pk"
    ):
        row = []
        for _, name in columns:
            display = getattr(registration, f"get_{name}_display", None)
            row.append(display() if display else getattr(registration, name))
        yield row


class RegistrationAdminBase(RegistrationFieldGuard, HistoryAdmin):
    """Shared by the full list and the review queue. ``state`` is read-only: it changes through
    actions that call the services, so the transition rules and history always apply."""

    list_display = [
        "full_name", "offering", "state", "employer_name", "work_email", "created_at",
    ]  # fmt: skip
    form = RegistrationAdminForm
    list_select_related = ["offering__course"]
    search_fields = ["first_name", "last_name", "email", "work_email", "employer_name", "phone"]
    inlines = [PaymentInline, RegistrationEventInline, OutboundEmailInline]
    actions = [
        "approve", "approve_and_list_domain", "reject", "cancel_and_refund", "refund_only",
        "email_selected", "export_roster",
    ]  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Registration | None = None) -> list:
        """The fields ``request.user`` may see (``roles.registration_fields_visible``); a
        version from the audit history shows only the fields the history keeps."""
        visible = roles.registration_fields_visible(request.user)
        if obj is not None and hasattr(obj, SIMPLE_HISTORY_REVERSE_ATTR_NAME):
            visible = visible & HISTORY_FIELDS
        fieldsets = []
        for title, names in FIELDSETS:
            shown = [name for name in names if name in visible]
            if shown:
                fieldsets.append((title, {"fields": shown}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Registration | None = None) -> list:
        return ["offering", "state", "created_at", "updated_at", "accessibility_needs",
                "pending_email", "time_zone", "hold_expires_at", "waitlisted_at",
                "sensitive_details_removed_at", "anonymised_at",
                *EMPLOYMENT_FIELDS]  # fmt: skip

    def history_hidden_fields(self, request: HttpRequest) -> set[str]:
        return set(self.hidden_registration_fields(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Registrations come through the public form.

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # History matters; cancel instead.

    # The permissions the actions name (``allowed_permissions``).
    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.REVIEW)

    def has_list_agency_domain_permission(self, request: HttpRequest) -> bool:
        return self.has_review_permission(request) and request.user.has_perm(
            roles.LIST_AGENCY_DOMAIN
        )

    def has_issue_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.ISSUE_REFUND)

    def has_send_broadcast_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms([roles.SEND_BROADCAST, "registrations.add_broadcast"])

    def has_export_roster_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.EXPORT_ROSTER)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Registration | None = None,
    ) -> HttpResponse:
        """Record (``StaffAccess``) that ``request.user`` is shown this registration's
        accessibility needs, when it has any and the user may see them."""
        if (
            obj is not None
            and obj.accessibility_needs
            and "accessibility_needs" not in self.hidden_registration_fields(request)
        ):
            StaffAccess.record(request.user, StaffAccess.Action.ACCESSIBILITY_NEEDS, [obj])
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, registration: Registration) -> str:
        return registration.full_name

    def _approve(self, request: HttpRequest, queryset: QuerySet, add_domain: bool) -> None:
        done = 0
        for registration in queryset.select_related("offering__course"):
            try:
                eligibility.review_approve(
                    registration, staff_user=request.user, add_domain=add_domain
                )
                done += 1
            except IllegalTransition as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{done} registration(s) approved.", messages.SUCCESS)

    @admin.action(description="Approve eligibility", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve(request, queryset, add_domain=False)

    @admin.action(
        description="Approve eligibility and list the work email's domain as an agency domain",
        permissions=["list_agency_domain"],
    )
    def approve_and_list_domain(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve(request, queryset, add_domain=True)

    @admin.action(description="Reject with a reason…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = 0
            for registration in queryset.select_related("offering__course"):
                try:
                    eligibility.review_reject(
                        registration, staff_user=request.user, reason=form.cleaned_data["reason"]
                    )
                    done += 1
                except (IllegalTransition, ValidationError) as exc:
                    self.message_user(request, str(exc), messages.WARNING)
            self.message_user(request, f"{done} registration(s) rejected.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/registrations/reject.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject registrations",
                "registrations": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def _refund_form(
        self, request: HttpRequest, queryset: QuerySet, action: str, title: str, help_text: str
    ) -> RefundForm | TemplateResponse:
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            return form
        return TemplateResponse(
            request,
            "admin/registrations/refund.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "help_text": help_text,
                "registrations": queryset,
                "form": form,
                "action": action,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Cancel and refund…", permissions=["issue_refund"])
    def cancel_and_refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = self._refund_form(
            request, queryset, "cancel_and_refund", "Cancel and refund",
            "Cancels each registration and frees its seat. Leave the amount blank to refund "
            "everything that is left; a registration refunded in full ends as refunded, else "
            "as cancelled.",
        )  # fmt: skip
        if not isinstance(form, RefundForm):
            return form
        for registration in queryset:
            try:
                cancellation.registration_cancel(
                    registration,
                    actor=Actor.staff(request.user),
                    reason=form.cleaned_data["reason"],
                    refund_cents=form.cleaned_data["amount_cents"],
                )
                self.message_user(request, f"{registration.full_name}: cancelled.")
            except (IllegalTransition, ValueError) as exc:
                self.message_user(request, f"{registration.full_name}: {exc}", messages.ERROR)
            except (PaymentProviderError, checkout.CheckoutUnavailable) as exc:
                self.message_user(
                    request,
                    f"{registration.full_name}: nothing changed. {exc.message}",
                    messages.ERROR,
                )
        return None

    @admin.action(
        description="Refund part of the payment (keep the seat)…", permissions=["issue_refund"]
    )
    def refund_only(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = self._refund_form(
            request, queryset, "refund_only", "Refund (keep the seat)",
            "Refunds the amount below and keeps the registration and its seat. Refunding "
            "the whole amount ends the registration as refunded.",
        )  # fmt: skip
        if not isinstance(form, RefundForm):
            return form
        for registration in queryset:
            payment = cancellation.paid_payment(registration)
            if payment is None:
                self.message_user(request, f"{registration.full_name}: no paid payment.",
                                  messages.ERROR)  # fmt: skip
                continue
            amount = form.cleaned_data["amount_cents"] or payment.refundable_cents
            try:
                refund = refunds.refund_request(
                    payment=payment, amount_cents=amount, reason=form.cleaned_data["reason"],
                    staff_user=request.user,
                )  # fmt: skip
                refunds.refund_execute(refund.pk)
                self.message_user(
                    request, f"{registration.full_name}: refunded ${amount / 100:.2f}."
                )
            except ValueError as exc:
                self.message_user(request, f"{registration.full_name}: {exc}", messages.ERROR)
            except PaymentProviderError as exc:
                self.message_user(
                    request, f"{registration.full_name}: nothing changed. {exc.message}",
                    messages.ERROR,
                )  # fmt: skip
        return None

    @admin.action(description="Email the selected registrations…", permissions=["send_broadcast"])
    def email_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        """Open a new "email to attendees" with the selection's active registrations as its
        recipients (cancelled, refunded and rejected ones are left out, and staff told so)."""
        active = queryset.exclude(state__in=INACTIVE_STATES)
        left_out = queryset.count() - active.count()
        if left_out:
            self.message_user(
                request,
                f"{left_out} selected registration(s) have ended and were left out.",
                messages.WARNING,
            )
        queryset = active
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        offerings = set(queryset.values_list("offering", flat=True))
        query = {"audience": BroadcastAudience.SELECTED, "selected": ",".join(map(str, ids))}
        if len(offerings) == 1:
            query["offering"] = offerings.pop()
        return HttpResponseRedirect(
            f"{reverse('admin:registrations_broadcast_add')}?{urlencode(query)}"
        )

    @admin.action(
        description="Export the selected as a roster (CSV)", permissions=["export_roster"]
    )
    def export_roster(
        self, request: HttpRequest, queryset: QuerySet[Registration]
    ) -> StreamingHttpResponse:
        """A CSV roster of the selection with the columns the user may see; recorded."""
        visible = roles.registration_fields_visible(request.user)
        return recorded_export(
            request, StaffAccess.Action.ROSTER_EXPORT, queryset,
            roster_rows(queryset, visible), "citreg-roster.csv",
        )  # fmt: skip


@admin.register(Registration)
class RegistrationAdmin(ErasureActionMixin, RegistrationAdminBase):
    list_filter = ["needs_attention", "state", "offering__course", "offering"]
    date_hierarchy = "created_at"
    # Erasure on request needs erase_personal_data (registrations.admin.erasure).
    actions = [*RegistrationAdminBase.actions, "erase_personal_data"]


@admin.register(RegistrationUnderReview)
class ReviewQueueAdmin(RegistrationAdminBase):
    """Registrations waiting for a staff eligibility decision, oldest first.

    The proxy's permissions mean: view, see the queue; change, review (approve, reject; the same
    permission the registration list's review actions ask). Editing the registration's own
    fields needs change on registrations here too, so a reviewer sees a read-only page.
    """

    ordering = ["created_at"]
    list_filter = ["offering"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(state=RegistrationState.PENDING_REVIEW)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm(roles.CHANGE_REGISTRATION)


@admin.register(AgencyDomain)
class AgencyDomainAdmin(HistoryAdmin):
    """Known agency domains. Adding or changing one lists a domain, so both need
    ``list_agency_domain``; deleting needs the model's delete permission."""

    list_display = ["domain", "agency_name", "added_by", "created_at"]
    search_fields = ["domain", "agency_name"]
    readonly_fields = ["added_by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.LIST_AGENCY_DOMAIN)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm(roles.LIST_AGENCY_DOMAIN)

    def save_model(
        self, request: HttpRequest, obj: AgencyDomain, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PolicyPage)
class PolicyPageAdmin(HistoryAdmin):
    list_display = ["title", "slug", "updated_at"]
