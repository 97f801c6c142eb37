"""Admin: registrations (with history), the eligibility review queue, agency domains, policy
pages, and the outbound email log. Admin actions call the services; they hold no rules."""

import csv
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from . import broadcasts, cancellation, checkout, eligibility, emails, refunds
from .forms import RefundForm, RejectForm
from .models import (
    AgencyDomain,
    Broadcast,
    OutboundEmail,
    Payment,
    PolicyPage,
    Refund,
    RefundPolicy,
    Registration,
    RegistrationEvent,
    RegistrationUnderReview,
    WebhookEvent,
)
from .payments import PaymentProviderError
from .transitions import Actor, IllegalTransition

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
            .exclude(state__in=Registration.INACTIVE_STATES)
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

    def _refund_form(self, request, queryset, action: str, title: str, help_text: str):
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
    def cancel_and_refund(self, request: HttpRequest, queryset: QuerySet):
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
    def refund_only(self, request: HttpRequest, queryset: QuerySet):
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
        active = queryset.exclude(state__in=Registration.INACTIVE_STATES)
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
        query = {"audience": Broadcast.Audience.SELECTED, "selected": ",".join(map(str, ids))}
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
        return super().get_queryset(request).filter(state=Registration.State.PENDING_REVIEW)


@admin.register(AgencyDomain)
class AgencyDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "agency_name", "added_by", "created_at"]
    search_fields = ["domain", "agency_name"]
    readonly_fields = ["added_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: AgencyDomain, form, change: bool) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(PolicyPage)
class PolicyPageAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "updated_at"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "status", "attempts", "sent_at", "subject"]
    list_filter = ["status", "kind"]
    search_fields = ["to_email", "to_name", "dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["send_again"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    @admin.action(description="Send selected failed messages again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        requeued = sum(emails.email_resend(email) for email in queryset)
        skipped = queryset.count() - requeued
        self.message_user(request, f"{requeued} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} message(s) were not failed and were left alone.", messages.INFO
            )


@admin.register(RefundPolicy)
class RefundPolicyAdmin(admin.ModelAdmin):
    list_display = ["course", "full_refund_days", "partial_refund_percent", "partial_refund_days"]
    readonly_fields = ["wording"]

    @admin.display(description="As shown to attendees")
    def wording(self, policy: RefundPolicy) -> str:
        return refunds.policy_text(policy) if policy.pk else "—"


class _Echo:
    def write(self, value: str) -> str:
        return value


PAYMENT_CSV_HEADER = [
    "date (UTC)", "registration", "attendee", "email", "offering", "status", "amount",
    "currency", "refunded", "stripe_checkout_session_id", "stripe_payment_intent_id",
    "refund ids",
]  # fmt: skip


def payment_csv_rows(queryset: QuerySet[Payment]):
    """Rows for finance: one per payment, amounts in dollars with two decimals."""
    yield PAYMENT_CSV_HEADER
    for payment in queryset.select_related("registration__offering__course").prefetch_related(
        "refunds"
    ):
        registration = payment.registration
        yield [
            (payment.paid_at or payment.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            registration.pk,
            registration.full_name,
            registration.email,
            str(registration.offering),
            payment.status,
            f"{payment.amount_cents / 100:.2f}",
            payment.currency.upper(),
            f"{payment.amount_refunded_cents / 100:.2f}",
            payment.stripe_checkout_session_id or "",
            payment.stripe_payment_intent_id,
            " ".join(r.stripe_refund_id or "" for r in payment.refunds.all()).strip(),
        ]


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["created_at", "amount_cents", "status", "automatic", "created_by", "reason",
              "stripe_refund_id", "error"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "registration", "status", "amount", "refunded",
                    "stripe_checkout_session_id"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["stripe_checkout_session_id", "stripe_payment_intent_id",
                     "registration__email", "registration__last_name"]  # fmt: skip
    list_select_related = ["registration__offering__course"]
    readonly_fields = [f.name for f in Payment._meta.fields]
    inlines = [RefundInline]
    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, payment: Payment) -> str:
        return f"${payment.amount_cents / 100:,.2f}"

    @admin.display(description="Refunded", ordering="amount_refunded_cents")
    def refunded(self, payment: Payment) -> str:
        if not payment.amount_refunded_cents:
            return "—"
        whole = " (all)" if payment.amount_refunded_cents >= payment.amount_cents else ""
        return f"${payment.amount_refunded_cents / 100:,.2f}{whole}"

    @admin.action(description="Export selected payments and refunds as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Payment]):
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in payment_csv_rows(queryset)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="citreg-payments.csv"'
        return response


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "stripe_event_id", "processed_at", "deliveries"]
    list_filter = ["type"]
    search_fields = ["stripe_event_id"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class BroadcastForm(forms.ModelForm):
    """Refuses unknown placeholders in the subject and body, and incomplete recipients."""

    class Meta:
        model = Broadcast
        fields = ["offering", "audience", "selected", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 14, "cols": 90})}

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        broadcasts.validate_template_text(subject)
        return subject

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        broadcasts.validate_template_text(body)
        return body

    def clean(self) -> dict:
        data = super().clean()
        audience = data.get("audience")
        if audience == Broadcast.Audience.SELECTED and not data.get("selected"):
            self.add_error("selected", "Select the registrations to write to.")
        if audience and audience != Broadcast.Audience.SELECTED and not data.get("offering"):
            self.add_error("offering", "Choose the class whose registrations get the message.")
        return data


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Write to a class's attendees: draft, preview for one recipient, send, watch the progress
    (the page refreshes itself while messages are queued), retry the failed ones. The rules are
    in ``registrations.broadcasts``."""

    form = BroadcastForm
    change_form_template = "admin/registrations/broadcast/change_form.html"
    list_display = ["subject", "offering", "audience", "author", "created_at", "sent_at"]
    list_select_related = ["offering__course", "author"]
    list_filter = ["audience", "sent_at"]
    search_fields = ["subject", "body"]
    raw_id_fields = ["selected"]
    fields = [
        "offering", "audience", "selected", "subject", "body",
        "author", "created_at", "sent_at", "sent_by",
    ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Broadcast | None = None) -> list:
        fixed = ["author", "created_at", "sent_at", "sent_by"]
        if obj is not None and obj.sent_at is not None:
            return [*fixed, "offering", "audience", "selected", "subject", "body"]
        return fixed

    def has_delete_permission(self, request: HttpRequest, obj: Broadcast | None = None) -> bool:
        return obj is None or obj.sent_at is None

    def save_model(self, request: HttpRequest, obj: Broadcast, form, change: bool) -> None:
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Broadcast, post_url_continue=None):
        """After saving a draft, stay on its page to preview and send it."""
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[obj.pk]))

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/send/", wrap(self.send_view), name="registrations_broadcast_send"),
            path("<int:pk>/retry/", wrap(self.retry_view), name="registrations_broadcast_retry"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        broadcast = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if broadcast is not None:
            extra.update(self._status_context(request, broadcast))
        return super().change_view(request, object_id, form_url, extra)

    def _status_context(self, request: HttpRequest, broadcast: Broadcast) -> dict:
        context: dict = {"broadcast": broadcast, "placeholders": broadcasts.PLACEHOLDERS}
        if broadcast.sent_at is None:
            people = broadcasts.recipients(broadcast)
            context["recipient_count"] = people.count()
            chosen = (
                people.filter(pk=request.GET.get("preview")).first()
                if request.GET.get("preview", "").isdigit()
                else None
            )
            try:
                context["preview"] = broadcasts.preview(broadcast, chosen)
            except ValidationError as exc:
                context["preview_error"] = " ".join(exc.messages)
            context["preview_choices"] = people[:200]
        else:
            progress = broadcasts.progress(broadcast)
            context["progress"] = progress
            context["failures"] = broadcast.emails.filter(
                status=OutboundEmail.Status.FAILED
            ).order_by("to_email")
            context["retrying"] = broadcast.emails.filter(
                status=OutboundEmail.Status.QUEUED, attempts__gt=0
            ).order_by("to_email")
        return context

    def _post_only(self, request: HttpRequest, pk: int) -> Broadcast:
        if request.method != "POST":
            raise PermissionDenied
        broadcast = get_object_or_404(Broadcast, pk=pk)
        if not self.has_change_permission(request, broadcast):
            raise PermissionDenied
        return broadcast

    def send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        broadcast = self._post_only(request, pk)
        try:
            count = broadcasts.broadcast_send(broadcast, user=request.user)
        except (ValidationError, broadcasts.AlreadySent) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text, messages.ERROR)
        else:
            self.message_user(
                request,
                f"Sending to {count} recipient(s) at up to "
                f"{broadcasts.settings.BROADCAST_RATE_PER_MINUTE:g} a minute.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[pk]))

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        broadcast = self._post_only(request, pk)
        count = broadcasts.broadcast_retry_failed(broadcast)
        self.message_user(request, f"{count} failed message(s) queued again.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[pk]))
