"""Admin: "Cancel this class…" on the offering list, and the cancellation's progress page.

The action takes one class at a time: a confirmation page with its active registrations per
state and the amount a full refund would return (``changes.class_cancellation
.cancellation_preview``), a reason and a "refund everyone now" box; on submit the class is
cancelled (``class_cancel``) and staff go to ``/admin/courses/offering/<id>/cancellation/``
(``admin:offering_cancellation``), which shows ``cancellation_progress`` and each registrant's
outcome, refreshing itself every few seconds until the work is finished. Running the action on a
class already cancelled this way goes to that page (and enqueues the task again, harmlessly).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from courses.admin import register_offering_action
from courses.models import Offering
from courses.timefmt import instant_label
from registrations.changes import class_cancellation as service
from registrations.changes.models import CancellationChoice, ClassCancellation
from registrations.enums import RegistrationState

CHANGE_OFFERING = "courses.change_offering"
REFRESH_SECONDS = 3


class CancelClassForm(forms.Form):
    """What staff tell the registrants, and whether to refund every paid one now."""

    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Told to every registrant, e.g. "Too few registrations to run the class."',
    )
    refund_everyone = forms.BooleanField(
        required=False,
        label="Refund everyone now",
        help_text="Refund every paid registrant in full at once, instead of offering a move to "
        "another class first.",
    )


def progress_url(offering: Offering) -> str:
    """The admin path of ``offering``'s cancellation progress page."""
    return reverse("admin:offering_cancellation", kwargs={"offering_id": offering.pk})


@register_offering_action
@admin.action(description="Cancel this class…", permissions=["change"])
def cancel_this_class(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Offering]
) -> HttpResponse | None:
    """One class at a time: the confirmation page, then ``class_cancel`` and the progress
    page. A class already cancelled through this action goes to its progress page."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one class to cancel.", messages.WARNING)
        return None
    offering = queryset.select_related("course").get()
    existing = ClassCancellation.objects.filter(offering=offering).first()
    if existing is not None:
        assert request.user.is_authenticated
        service.class_cancel(
            offering,
            reason=existing.reason,
            refund_everyone=existing.refund_everyone,
            staff_user=request.user,
        )
        return HttpResponseRedirect(progress_url(offering))
    form = CancelClassForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        assert request.user.is_authenticated
        service.class_cancel(
            offering,
            reason=form.cleaned_data["reason"],
            refund_everyone=form.cleaned_data["refund_everyone"],
            staff_user=request.user,
        )
        modeladmin.message_user(
            request,
            f"{offering} is cancelled. Its registrants are being told and refunded in the "
            "background.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(progress_url(offering))
    preview = service.cancellation_preview(offering)
    labels = dict(RegistrationState.choices)
    return TemplateResponse(
        request,
        "admin/registrations/cancel_class.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Cancel this class",
            "offering": offering,
            "form": form,
            "preview": preview,
            "counts": [(labels.get(state, state), n) for state, n in preview.counts.items()],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": Offering._meta,
        },
    )


def cancellation_progress_view(request: HttpRequest, offering_id: int) -> HttpResponse:
    """The progress of a class's cancellation: counts (``cancellation_progress``) and one row
    per registrant (state before, choice, outcome, refunded, error). Needs change on
    offerings."""
    if not request.user.has_perm(CHANGE_OFFERING):
        raise PermissionDenied
    offering = get_object_or_404(Offering.objects.select_related("course"), pk=offering_id)
    cancellation = get_object_or_404(ClassCancellation, offering=offering)
    progress = service.cancellation_progress(cancellation)
    choices = CancellationChoice.objects.filter(cancellation=cancellation).select_related(
        "registration"
    )
    # Work in flight: registrants not handled yet, or handled and neither settled, waiting for
    # their own choice nor waiting for staff (a refund being issued).
    in_flight = progress.remaining or (
        progress.total - progress.settled - progress.waiting - progress.failed
    )
    return TemplateResponse(
        request,
        "admin/registrations/cancellation_progress.html",
        {
            **admin.site.each_context(request),
            "title": f"Cancellation of {offering}",
            "offering": offering,
            "cancellation": cancellation,
            "progress": progress,
            "deadline_label": instant_label(cancellation.choice_deadline, offering.zone),
            "choices": choices,
            "refresh_seconds": REFRESH_SECONDS if in_flight else None,
            "opts": Offering._meta,
        },
    )


admin.site.register_view(  # type: ignore[attr-defined]
    "courses/offering/<int:offering_id>/cancellation/",
    cancellation_progress_view,
    "offering_cancellation",
)
