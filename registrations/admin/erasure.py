"""Admin: "Erase personal data…", the action on registrations that erases one person's data on
their request (``registrations.privacy.erasure``).

The action needs the ``erase_personal_data`` permission, which belongs to no group: it is given
to named people (``docs/architecture.md``, "Roles"). The first step shows a confirmation page
(``admin/registrations/erasure.html``): the person's registrations in every class, what happens
to each, what stays (payments and training records) and why, and what Stripe keeps. Confirming
posts back to the same action (CSRF-protected, like every admin action) and erases.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from registrations.privacy import erasure, retention

PERMISSION = "registrations.erase_personal_data"


class ErasureActionMixin:
    """Adds the action to a registration ``ModelAdmin`` (put it before ``ModelAdmin`` in the bases
    and list ``"erase_personal_data"`` in ``actions``). Django shows and runs the action only for
    users for whom ``has_erase_personal_data_permission`` is true."""

    def has_erase_personal_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION)

    @admin.action(description="Erase personal data…", permissions=["erase_personal_data"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Confirm, then erase the personal data of the one person (course email) selected."""
        emails = sorted(
            {email.strip().lower() for email in queryset.values_list("email", flat=True)}
        )
        if len(emails) != 1:
            self.message_user(
                request,
                "Select the registrations of one person (one course email) at a time: every "
                "registration with that email, in any class, is shown before anything is erased.",
                messages.ERROR,
            )
            return None
        [email] = emails
        if request.POST.get("confirm") == "yes":
            try:
                result = erasure.erase_person(email, staff_user=request.user)
            except erasure.ErasureRefused as refused:
                self.message_user(request, refused.message, messages.ERROR)
                return None
            self.message_user(
                request,
                f"Personal data erased: {len(result.anonymised)} registration(s) anonymised, "
                f"{len(result.training_records_kept)} training record(s) kept without contact "
                f"and sensitive details, {len(result.unchanged)} unchanged. Payments and refunds "
                "are kept. Delete the customer in the Stripe dashboard too if the person asked.",
                messages.SUCCESS,
            )
            return None
        plan = erasure.erasure_plan(email)
        refused = [p for p in plan if p.treatment is erasure.Treatment.ACTIVE]
        return TemplateResponse(
            request,
            "admin/registrations/erasure.html",
            {
                **self.admin_site.each_context(request),
                "title": "Erase personal data",
                "email": email,
                "plan": plan,
                "refused": refused,
                "can_erase": not refused
                and any(p.treatment is not erasure.Treatment.DONE for p in plan),
                "training_record_retention": retention.describe(
                    retention.periods().training_records
                ),
                "selected": queryset.values_list("pk", flat=True),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )
