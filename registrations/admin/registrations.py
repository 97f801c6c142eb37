"""Admin: registrations (with history, payments and emails), the eligibility review queue,
agency domains and policy pages. Admin actions call the services; they hold no rules."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from registrations import eligibility
from registrations.enums import INACTIVE_STATES, BroadcastAudience, RegistrationState
from registrations.forms import RefundForm, RejectForm
from registrations.messaging.models import OutboundEmail
from registrations.models import (
    AgencyDomain,
    PolicyPage,
    Registration,
    RegistrationEvent,
    RegistrationUnderReview,
)
from registrations.payments import cancellation, checkout, refunds
from registrations.payments.gateway import PaymentProviderError
from registrations.payments.models import Payment
from registrations.transitions import Actor, IllegalTransition

ACCESSIBILITY_PERMISSION = "registrations.view_accessibility_needs"


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
    model = OutboundEmail
    extra = 0
    can_delete = False
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


PERSON_FIELDS = ["first_name", "last_name", "email", "pending_email", "phone", "role", "time_zone"]
EMPLOYMENT_FIELDS = [
    "employer_name", "employer_city", "employer_state", "work_email", "work_email_confirmed_at",
    "supervisor_name", "supervisor_email", "supervisor_confirmed_at", "attested_at",
    "participation_acknowledged_at", "terms_accepted_at",
]  # fmt: skip


class RegistrationAdminBase(admin.ModelAdmin):
    """Shared by the full list and the review queue. ``state`` is read-only: it changes through
    actions that call the services, so the transition rules and history always apply."""

    list_display = [
        "full_name", "offering", "state", "employer_name", "work_email", "created_at",
    ]  # fmt: skip
    form = RegistrationAdminForm
    list_select_related = ["offering__course"]
    search_fields = ["first_name", "last_name", "email", "work_email", "employer_name"]
    inlines = [PaymentInline, RegistrationEventInline, OutboundEmailInline]
    actions = [
        "approve", "approve_and_list_domain", "reject", "cancel_and_refund", "refund_only",
        "email_selected",
    ]  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Registration | None = None) -> list:
        taking_part = [
            "offering", "state", "needs_attention", "attention_reason", "hold_expires_at",
            "waitlisted_at", "created_at", "updated_at",
        ]  # fmt: skip
        if request.user.has_perm(ACCESSIBILITY_PERMISSION):
            taking_part.append("accessibility_needs")
        return [
            (None, {"fields": taking_part}),
            ("Attendee", {"fields": PERSON_FIELDS}),
            ("Employment and eligibility", {"fields": EMPLOYMENT_FIELDS}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Registration | None = None) -> list:
        return ["offering", "state", "created_at", "updated_at", "accessibility_needs",
                "pending_email", "time_zone", "hold_expires_at", "waitlisted_at",
                *EMPLOYMENT_FIELDS]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Registrations come through the public form.

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # History matters; cancel instead.

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

    @admin.action(description="Approve eligibility", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve(request, queryset, add_domain=False)

    @admin.action(
        description="Approve eligibility and list the work email's domain as an agency domain",
        permissions=["change"],
    )
    def approve_and_list_domain(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve(request, queryset, add_domain=True)

    @admin.action(description="Reject with a reason…", permissions=["change"])
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

    @admin.action(description="Cancel and refund…", permissions=["change"])
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

    @admin.action(description="Refund part of the payment (keep the seat)…", permissions=["change"])
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

    @admin.action(description="Email the selected registrations…", permissions=["change"])
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


@admin.register(Registration)
class RegistrationAdmin(RegistrationAdminBase):
    list_filter = ["needs_attention", "state", "offering__course", "offering"]
    date_hierarchy = "created_at"


@admin.register(RegistrationUnderReview)
class ReviewQueueAdmin(RegistrationAdminBase):
    """Registrations waiting for a staff eligibility decision, oldest first."""

    ordering = ["created_at"]
    list_filter = ["offering"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(state=RegistrationState.PENDING_REVIEW)


@admin.register(AgencyDomain)
class AgencyDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "agency_name", "added_by", "created_at"]
    search_fields = ["domain", "agency_name"]
    readonly_fields = ["added_by", "created_at"]

    def save_model(
        self, request: HttpRequest, obj: AgencyDomain, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PolicyPage)
class PolicyPageAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "updated_at"]
