"""Admin: "Transfer to another class…" on the registration list. The page lists the classes the
selected registration may move to (``changes.transfers.transfer_options`` for staff: deadline
and limit do not bind staff) with their seats left; the move itself is
``changes.transfers.transfer``, which checks everything again under the locks."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from registrations.changes import transfers
from registrations.models import Registration
from registrations.transitions import Actor


class TransferForm(forms.Form):
    """The class to move to, one of ``options``."""

    target = forms.TypedChoiceField(
        coerce=int, widget=forms.RadioSelect, label="Move to", empty_value=None
    )

    def __init__(self, data: object = None, *, options: list[transfers.TransferOption]) -> None:
        super().__init__(data)
        self.options = options
        field = self.fields["target"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (
                o.offering.pk,
                f"{o.offering.date_label} · {o.offering.get_part_of_day_display()} "
                f"({o.seats_left} seat{'s' if o.seats_left != 1 else ''} left)",
            )
            for o in options
        ]


class TransferActionMixin(admin.ModelAdmin):
    """Adds the ``transfer_to_another_class`` action (needs change on registrations)."""

    @admin.action(description="Transfer to another class…", permissions=["change"])
    def transfer_to_another_class(
        self, request: HttpRequest, queryset: QuerySet[Registration]
    ) -> HttpResponse | None:
        """One confirmed registration at a time: the page of its options, then the move."""
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one registration to transfer.", messages.WARNING
            )
            return None
        registration = queryset.select_related("offering__course").get()
        refusal = transfers.registration_refusal(registration, by_staff=True, now=timezone.now())
        if refusal:
            self.message_user(request, f"{registration.full_name}: {refusal}", messages.ERROR)
            return None
        options = transfers.transfer_options(registration, by_staff=True)
        form = TransferForm(request.POST if "apply" in request.POST else None, options=options)
        if form.is_valid():
            try:
                moved = transfers.transfer(
                    registration.pk, form.cleaned_data["target"], actor=Actor.staff(request.user)
                )
            except transfers.TransferRefused as exc:
                self.message_user(
                    request, f"{registration.full_name}: {exc.message}", messages.ERROR
                )
                return None
            self.message_user(
                request,
                f"{registration.full_name}: moved to {moved.offering}. The attendee was emailed "
                "the calendar cancellation and the new invitation.",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/registrations/transfer.html",
            {
                **self.admin_site.each_context(request),
                "title": "Transfer to another class",
                "registration": registration,
                "form": form,
                "options": options,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )
