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
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.manager import SIMPLE_HISTORY_REVERSE_ATTR_NAME

from courses.admin import HistoryAdmin, recent_or_upcoming, upcoming_first
from courses.models import Offering
from registrations import addresses, eligibility, roles
from registrations.enums import INACTIVE_STATES, BroadcastAudience, RegistrationState
from registrations.forms import RejectForm
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
from registrations.reports import roster
from registrations.transitions import Actor, IllegalTransition

from .display import moment, money, waited
from .erasure import ErasureActionMixin
from .guards import RegistrationFieldGuard, recorded_export
from .refund_form import StaffRefundForm, quote_lines
from .substitutions import SubstitutionActionMixin
from .transfers import TransferActionMixin

# Fields the audit history of a registration keeps (phone and accessibility needs are left out
# of it, ``Registration.history``): a version's page shows only these.
HISTORY_FIELDS = frozenset(field.name for field in Registration.history.model._meta.fields)


class RegistrationEventInline(admin.TabularInline):
    model = RegistrationEvent
    extra = 0
    can_delete = False
    fields = ["when", "from_state", "to_state", "actor", "staff_user", "reason"]
    readonly_fields = fields

    @admin.display(description="When")
    def when(self, event: RegistrationEvent) -> str:
        return moment(event.created_at)

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
    fields = ["created", "kind", "to_email", "status", "sent"]
    readonly_fields = fields

    @admin.display(description="Created")
    def created(self, email: OutboundEmail) -> str:
        return moment(email.created_at)

    @admin.display(description="Sent")
    def sent(self, email: OutboundEmail) -> str:
        return moment(email.sent_at)

    verbose_name_plural = "Emails"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = [
        "created", "status", "amount", "refunded", "paid",
        "stripe_checkout_session_id", "stripe_payment_intent_id",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Created")
    def created(self, payment: Payment) -> str:
        return moment(payment.created_at)

    @admin.display(description="Amount")
    def amount(self, payment: Payment) -> str:
        return money(payment.amount_cents)

    @admin.display(description="Refunded")
    def refunded(self, payment: Payment) -> str:
        return money(payment.amount_refunded_cents)

    @admin.display(description="Paid")
    def paid(self, payment: Payment) -> str:
        return moment(payment.paid_at)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RegistrationAdminForm(forms.ModelForm):
    """Staff may correct the course email, but not onto another active registration's address
    for the same class (the database would refuse it; this says so beside the field)."""

    def clean_email(self) -> str:
        """The address in its one normal form (``addresses.clean_email``, as the public form
        stores it), and not another active registration's of the same class."""
        email = addresses.clean_email(self.cleaned_data["email"])
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

    def clean_work_email(self) -> str:
        """The work address in its normal form (``addresses.clean_email``)."""
        return addresses.clean_email(self.cleaned_data["work_email"])


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


class RegistrationAdminBase(RegistrationFieldGuard, HistoryAdmin):
    """Shared by the full list and the review queue. ``state`` is read-only: it changes through
    actions that call the services, so the transition rules and history always apply."""

    list_display = [
        "full_name", "offering", "state", "employer_name", "work_email", "registered",
    ]  # fmt: skip
    form = RegistrationAdminForm
    list_select_related = ["offering__course"]
    search_fields = ["first_name", "last_name", "email", "work_email", "employer_name", "phone"]
    inlines = [PaymentInline, RegistrationEventInline, OutboundEmailInline]
    actions = [
        "approve", "approve_and_list_domain", "reject", "cancel_and_refund", "refund_only",
        "email_selected", "export_roster", "export_roster_xlsx",
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

    @admin.display(description="Registered", ordering="created_at")
    def registered(self, registration: Registration) -> str:
        return moment(registration.created_at)

    # ------------------------------------------------------------ the review page

    change_form_template = "admin/registrations/review_change_form.html"

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="{}_{}_review".format(*info),
            ),
            *super().get_urls(),
        ]

    def review_context(self, request: HttpRequest, registration: Registration) -> dict:
        """What the review panel of the change page shows (empty when ``registration`` is not
        waiting for review or ``request.user`` may not review): what the registrant gave, the
        standing of their work email's domain and of their supervisor, similar past decisions,
        the place in the queue with its neighbours, and the decision buttons."""
        if registration.state != RegistrationState.PENDING_REVIEW:
            return {}
        if not self.has_review_permission(request):
            return {}
        now = timezone.now()
        place = eligibility.queue_place(registration)
        standing = eligibility.domain_standing(registration.work_email)
        supervisor = eligibility.supervisor_standing(registration)
        queue = "admin:registrations_registrationunderreview_change"
        return {
            "review": {
                "registration": registration,
                "waited": waited(place.waiting_since, now),
                "waiting_since": moment(place.waiting_since),
                "place": place,
                "previous_url": reverse(queue, args=[place.previous_id])
                if place.previous_id
                else "",
                "next_url": reverse(queue, args=[place.next_id]) if place.next_id else "",
                "queue_url": reverse("admin:registrations_registrationunderreview_changelist"),
                "action_url": reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_review",
                    args=[registration.pk],
                ),
                "work_email_confirmed": moment(registration.work_email_confirmed_at)
                if registration.work_email_confirmed_at
                else "",
                "domain": standing,
                "supervisor": supervisor,
                "supervisor_asked": moment(supervisor.asked_at) if supervisor.asked_at else "",
                "supervisor_answered": moment(supervisor.answered_at)
                if supervisor.answered_at
                else "",
                "decisions": [
                    {
                        "when": moment(event.created_at),
                        "registration": event.registration,
                        "approved": event.to_state == RegistrationState.ELIGIBLE,
                        "by": event.staff_user or event.get_actor_display(),
                        "reason": event.reason,
                    }
                    for event in eligibility.similar_decisions(registration)
                ],
                "can_list_domain": self.has_list_agency_domain_permission(request)
                and standing.listable,
                "reject_form": RejectForm(),
            }
        }

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """The change page, with the review panel above the fields while it awaits review."""
        extra_context = dict(extra_context or {})
        if request.method == "GET":
            registration = self.get_object(request, object_id)
            if registration is not None:
                extra_context.update(self.review_context(request, registration))
        return super().change_view(request, object_id, form_url, extra_context)

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST of a review button: ``decision`` is "approve", "approve_and_list_domain" or
        "reject" (with ``reason``). Runs the same method as the list action of that name
        (``_approve``, ``_reject``: the eligibility services), then opens the next registration
        in the queue (the queue when none is left)."""
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[object_id]
                )  # fmt: skip
            )
        registration = self.get_object(request, object_id)
        if registration is None:
            raise Http404
        if not self.has_review_permission(request):
            raise PermissionDenied
        place = eligibility.queue_place(registration)
        selected = Registration.objects.filter(pk=registration.pk)
        decision = request.POST.get("decision", "")
        if decision == "approve":
            self._approve(request, selected, add_domain=False)
        elif decision == "approve_and_list_domain":
            if not self.has_list_agency_domain_permission(request):
                raise PermissionDenied
            self._approve(request, selected, add_domain=True)
        elif decision == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                self.message_user(request, "Give the registrant a reason to reject.",
                                  messages.ERROR)  # fmt: skip
                return HttpResponseRedirect(request.path.removesuffix("review/"))
            self._reject(request, selected, form.cleaned_data["reason"])
        else:
            return HttpResponseBadRequest("Unknown decision.")
        queue = "admin:registrations_registrationunderreview"
        if place.next_id is not None:
            return HttpResponseRedirect(reverse(f"{queue}_change", args=[place.next_id]))
        return HttpResponseRedirect(reverse(f"{queue}_changelist"))

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

    def _reject(self, request: HttpRequest, queryset: QuerySet, reason: str) -> None:
        done = 0
        for registration in queryset.select_related("offering__course"):
            try:
                eligibility.review_reject(registration, staff_user=request.user, reason=reason)
                done += 1
            except (IllegalTransition, ValidationError) as exc:
                self.message_user(request, " ".join(getattr(exc, "messages", [str(exc)])),
                                  messages.WARNING)  # fmt: skip
        self.message_user(request, f"{done} registration(s) rejected.", messages.SUCCESS)

    @admin.action(description="Reject with a reason…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            self._reject(request, queryset, form.cleaned_data["reason"])
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
    ) -> StaffRefundForm | TemplateResponse:
        """The refund form of ``action`` for the selection: valid and applied, or (re)shown with
        each registration's quote (``refund_form.quote_lines``)."""
        lines = quote_lines(queryset)
        form = StaffRefundForm(request.POST if "apply" in request.POST else None, lines=lines)
        if form.is_valid():
            return form
        return TemplateResponse(
            request,
            "admin/registrations/refund.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "help_text": help_text,
                "form": form,
                "lines": form.line_fields(),
                "action": action,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Cancel and refund…", permissions=["issue_refund"])
    def cancel_and_refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = self._refund_form(
            request, queryset, "cancel_and_refund", "Cancel and refund",
            "Cancels each registration and frees its seat, refunding the amount in its line "
            "(the refund policy's amount unless you change it; 0 for none). A registration "
            "refunded in full ends as refunded, else as cancelled.",
        )  # fmt: skip
        if not isinstance(form, StaffRefundForm):
            return form
        for line in form.lines:
            registration = line.registration
            amount = form.amount_cents(line)
            try:
                cancellation.registration_cancel(
                    registration,
                    actor=Actor.staff(request.user),
                    reason=form.cleaned_data["reason"],
                    refund_cents=amount if line.payment is not None else None,
                )
                refunded = f", {money(amount)} refunded" if line.payment and amount else ""
                self.message_user(request, f"{registration.full_name}: cancelled{refunded}.")
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
            "Refunds the amount in each line and keeps the registration and its seat. "
            "Refunding everything that is left ends the registration as refunded.",
        )  # fmt: skip
        if not isinstance(form, StaffRefundForm):
            return form
        for line in form.lines:
            registration = line.registration
            amount = form.amount_cents(line)
            if line.payment is None:
                self.message_user(request, f"{registration.full_name}: no paid payment.",
                                  messages.ERROR)  # fmt: skip
                continue
            if not amount:
                self.message_user(request, f"{registration.full_name}: nothing refunded (0).",
                                  messages.WARNING)  # fmt: skip
                continue
            try:
                refund = refunds.refund_request(
                    payment=line.payment, amount_cents=amount,
                    reason=form.cleaned_data["reason"], staff_user=request.user,
                )  # fmt: skip
                refunds.refund_execute(refund.pk)
                self.message_user(request, f"{registration.full_name}: refunded {money(amount)}.")
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

    def _export_roster(
        self, request: HttpRequest, queryset: QuerySet[Registration], file_format: str
    ) -> HttpResponse | StreamingHttpResponse:
        """The roster of the selection (``reports.roster``: the columns the user may see, as
        on a class's roster page) as ``file_format``; recorded."""
        return recorded_export(
            request, StaffAccess.Action.ROSTER_EXPORT, queryset,
            roster.roster_rows(queryset, request.user), "citreg-roster", file_format,
        )  # fmt: skip

    @admin.action(
        description="Export the selected as a roster (CSV)", permissions=["export_roster"]
    )
    def export_roster(
        self, request: HttpRequest, queryset: QuerySet[Registration]
    ) -> HttpResponse | StreamingHttpResponse:
        return self._export_roster(request, queryset, "csv")

    @admin.action(
        description="Export the selected as a roster (Excel, XLSX)", permissions=["export_roster"]
    )
    def export_roster_xlsx(
        self, request: HttpRequest, queryset: QuerySet[Registration]
    ) -> HttpResponse | StreamingHttpResponse:
        return self._export_roster(request, queryset, "xlsx")


class OlderClassesFilter(admin.SimpleListFilter):
    """Whether the class filter offers classes that ended more than a month ago (it filters no
    registration itself; ``ClassFilter`` reads it)."""

    title = "classes to choose from"
    parameter_name = "classes"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("all", "All, older classes too")]

    def choices(self, changelist):  # type: ignore[no-untyped-def]
        for choice in super().choices(changelist):
            if choice["display"] == "All":
                choice["display"] = "Upcoming and last month's"
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset


class ClassFilter(admin.RelatedFieldListFilter):
    """The class filter: upcoming classes first (``courses.admin.upcoming_first``), without
    those that ended more than a month ago unless ``OlderClassesFilter`` asks for them (a chosen
    class is always offered)."""

    def field_choices(self, field, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:  # type: ignore[no-untyped-def]
        offerings = upcoming_first(Offering.objects.select_related("course"))
        if request.GET.get(OlderClassesFilter.parameter_name) != "all":
            recent = recent_or_upcoming(offerings)
            chosen = self.lookup_val or []
            offerings = offerings.filter(Q(pk__in=recent.values("pk")) | Q(pk__in=chosen))
        return [(offering.pk, str(offering)) for offering in offerings]


@admin.register(Registration)
class RegistrationAdmin(
    ErasureActionMixin, TransferActionMixin, SubstitutionActionMixin, RegistrationAdminBase
):
    list_filter = [
        "needs_attention", "state", "offering__course", ("offering", ClassFilter),
        OlderClassesFilter,
    ]  # fmt: skip
    date_hierarchy = "created_at"
    # Erasure on request needs erase_personal_data (registrations.admin.erasure).
    # Moving a confirmed place to another class needs change on registrations.
    actions = [
        *RegistrationAdminBase.actions,
        "transfer_to_another_class",
        "substitute_a_colleague",
        "erase_personal_data",
    ]


@admin.register(RegistrationUnderReview)
class ReviewQueueAdmin(RegistrationAdminBase):
    """Registrations waiting for a staff eligibility decision, oldest first.

    The proxy's permissions mean: view, see the queue; change, review (approve, reject; the same
    permission the registration list's review actions ask). Editing the registration's own
    fields needs change on registrations here too, so a reviewer sees a read-only page.
    """

    list_display = ["full_name", "waiting", "offering", "employer_name", "work_email", "registered"]
    list_filter = [("offering", ClassFilter), OlderClassesFilter]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # As ModelAdmin's, annotated before it is ordered by the annotation.
        return (
            self.model._default_manager.get_queryset()
            .filter(state=RegistrationState.PENDING_REVIEW)
            .annotate(waiting_since=eligibility.waiting_since())
            .order_by(*self.get_ordering(request))
        )

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["waiting_since", "pk"]  # oldest first, as ``eligibility.review_queue``

    @admin.display(description="Waiting", ordering="waiting_since")
    def waiting(self, registration: Registration) -> str:
        since = getattr(registration, "waiting_since", None)
        return format_html(
            '{}<br><span class="citreg-quiet">since {}</span>',
            waited(since, timezone.now()),
            moment(since),
        )

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
