"""Admin: "Substitute a colleague…" on the registration list (``SubstitutionActionMixin``,
needs change on registrations) and the substitutions' own list (read-only; filter by status;
approve or reject the colleague's eligibility, which needs the review permission,
``roles.REVIEW``). Every step is a service of ``changes.substitutions``."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from courses.text import MultiLineField, single_line
from registrations import roles
from registrations.changes import substitutions
from registrations.changes.models import Substitution
from registrations.forms import AgencyEmailField
from registrations.models import Registration
from registrations.transitions import Actor

from .display import moment


class StaffSubstituteForm(forms.Form):
    """The colleague staff name: names (one line each) and work email."""

    first_name = forms.CharField(max_length=150, validators=[single_line])
    last_name = forms.CharField(max_length=150, validators=[single_line])
    work_email = AgencyEmailField(label="Work email")


class SubstitutionActionMixin(admin.ModelAdmin):
    """Adds the ``substitute_a_colleague`` action (needs change on registrations)."""

    @admin.action(description="Substitute a colleague…", permissions=["change"])
    def substitute_a_colleague(
        self, request: HttpRequest, queryset: QuerySet[Registration]
    ) -> HttpResponse | None:
        """One confirmed registration at a time: the colleague's names and work email, then
        ``substitution_request`` (staff: until the first session starts)."""
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one registration to substitute.", messages.WARNING
            )
            return None
        registration = queryset.select_related("offering__course").get()
        refusal = substitutions.substitution_refusal(
            registration, by_staff=True, now=timezone.now()
        )
        if refusal:
            self.message_user(request, f"{registration.full_name}: {refusal}", messages.ERROR)
            return None
        form = StaffSubstituteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                substitutions.substitution_request(
                    registration, **form.cleaned_data, actor=Actor.staff(request.user)
                )
            except substitutions.SubstitutionRefused as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    f"{registration.full_name}: {form.cleaned_data['first_name']} "
                    f"{form.cleaned_data['last_name']} was sent a link to take the place.",
                    messages.SUCCESS,
                )
                return None
        return TemplateResponse(
            request,
            "admin/registrations/substitute.html",
            {
                **self.admin_site.each_context(request),
                "title": "Substitute a colleague",
                "registration": registration,
                "open_substitution": substitutions.open_substitution(registration),
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


class SubstitutionRejectForm(forms.Form):
    """The reason for rejecting the colleague's eligibility (told to the place's holder)."""

    reason = MultiLineField(widget=forms.Textarea(attrs={"rows": 4}), label="Reason")


@admin.register(Substitution)
class SubstitutionAdmin(admin.ModelAdmin):
    """Substitutions: read-only, with approve/reject of the colleague's eligibility and
    withdraw."""

    list_display = (
        "registration",
        "original_name",
        "colleague_name",
        "work_email",
        "status",
        "created",
    )
    list_filter = ("status",)
    search_fields = ("first_name", "last_name", "work_email", "original_last_name")
    actions = ("approve", "reject", "withdraw")
    readonly_fields = [f.name for f in Substitution._meta.fields]

    @admin.display(description="original person")
    def original_name(self, obj: Substitution) -> str:
        return f"{obj.original_first_name} {obj.original_last_name}"

    @admin.display(description="colleague")
    def colleague_name(self, obj: Substitution) -> str:
        return f"{obj.first_name} {obj.last_name}"

    @admin.display(description="requested", ordering="created_at")
    def created(self, obj: Substitution) -> str:
        return moment(obj.created_at)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        user = request.user
        return user.has_perm("registrations.change_registration") or user.has_perm(roles.REVIEW)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.REVIEW)

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("registrations.change_registration")

    @admin.action(description="Approve the colleague's eligibility", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Substitution]) -> None:
        done = 0
        for substitution in queryset.select_related("registration__offering__course"):
            try:
                substitutions.substitution_approve(substitution, staff_user=request.user)
                done += 1
            except substitutions.SubstitutionRefused as exc:
                self.message_user(request, f"{substitution}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} substitution(s) completed.", messages.SUCCESS)

    @admin.action(description="Reject the colleague's eligibility…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Substitution]) -> HttpResponse | None:
        form = SubstitutionRejectForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            done = 0
            for substitution in queryset:
                try:
                    substitutions.substitution_reject(
                        substitution, staff_user=request.user, reason=form.cleaned_data["reason"]
                    )
                    done += 1
                except (substitutions.SubstitutionRefused, ValidationError) as exc:
                    self.message_user(request, f"{substitution}: {exc}", messages.WARNING)
            self.message_user(request, f"{done} substitution(s) rejected.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/registrations/substitution_reject.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject substitutions",
                "substitutions": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Withdraw", permissions=["withdraw"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Substitution]) -> None:
        for substitution in queryset:
            substitutions.substitution_withdraw(substitution, actor=Actor.staff(request.user))
        self.message_user(request, "Withdrawn; the places stay as they were.", messages.SUCCESS)
