"""Admin: registrations (with history), the eligibility review queue, agency domains, policy
pages, and the outbound email log. Admin actions call the services; they hold no rules."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from . import eligibility, emails
from .forms import RejectForm
from .models import (
    AgencyDomain,
    OutboundEmail,
    PolicyPage,
    Registration,
    RegistrationEvent,
    RegistrationUnderReview,
)
from .transitions import IllegalTransition

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
    list_select_related = ["offering__course"]
    search_fields = ["first_name", "last_name", "email", "work_email", "employer_name"]
    inlines = [RegistrationEventInline, OutboundEmailInline]
    actions = ["approve", "approve_and_list_domain", "reject"]

    def get_fieldsets(self, request: HttpRequest, obj: Registration | None = None) -> list:
        taking_part = ["offering", "state", "created_at", "updated_at"]
        if request.user.has_perm(ACCESSIBILITY_PERMISSION):
            taking_part.append("accessibility_needs")
        return [
            (None, {"fields": taking_part}),
            ("Attendee", {"fields": PERSON_FIELDS}),
            ("Employment and eligibility", {"fields": EMPLOYMENT_FIELDS}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Registration | None = None) -> list:
        return ["offering", "state", "created_at", "updated_at", "accessibility_needs",
                "pending_email", "time_zone", *EMPLOYMENT_FIELDS]  # fmt: skip

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


@admin.register(Registration)
class RegistrationAdmin(RegistrationAdminBase):
    list_filter = ["state", "offering__course", "offering"]
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
