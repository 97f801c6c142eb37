"""Admin: two actions on the offering list, for one or many classes.

- **Confirm the class runs**: ``changes.enrolment.run_confirm`` for each selected class (its
  minimum no longer matters; the class's history names who confirmed).
- **Set the meeting link…**: a page with one web link (``https:`` or ``http:`` only, one line,
  as ``courses.text.web_link`` accepts), then for each class whose link differs the same path as
  saving the offering form: the link is saved (with the class's history), and
  ``courses.scheduling.offering_schedule_changed`` raises ``schedule_version`` (the calendar
  SEQUENCE) and sends ``offering_changed``, on which ``messaging.notices`` queues one update per
  CONFIRMED attendee (held, paying and waitlisted people get nothing).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from courses.admin import SingleLineURLField, register_offering_action
from courses.models import Offering
from courses.scheduling import offering_schedule_changed
from courses.text import web_link
from registrations.changes import enrolment
from registrations.enums import RegistrationState as S
from registrations.models import Registration


@register_offering_action
@admin.action(description="Confirm the class runs", permissions=["change"])
def confirm_the_class_runs(modeladmin, request: HttpRequest, queryset: QuerySet[Offering]) -> None:
    """``enrolment.run_confirm`` for each selected class; says how many were confirmed now,
    already and refused (cancelled)."""
    done = already = 0
    for offering in queryset.order_by("pk"):
        try:
            if enrolment.run_confirm(offering, request.user):  # type: ignore[arg-type]
                done += 1
            else:
                already += 1
        except enrolment.RunConfirmRefused as refused:
            modeladmin.message_user(request, refused.message, level=messages.ERROR)
    if done or already:
        modeladmin.message_user(
            request,
            f"Confirmed to run: {done} class{'es' if done != 1 else ''}"
            + (f" ({already} already confirmed)." if already else "."),
        )


class MeetingLinkForm(forms.Form):
    """The one link to set on every selected class."""

    meeting_url = SingleLineURLField(
        label="Meeting link",
        assume_scheme="https",
        max_length=200,
        help_text="The video meeting link (https://…); confirmed attendees get an update email "
        "and calendar invitation.",
    )

    def clean_meeting_url(self) -> str:
        value = self.cleaned_data["meeting_url"]
        if not web_link(value):
            raise ValidationError("Enter a web link starting with https:// or http://.")
        return value


def set_link(offering: Offering, url: str, user: object) -> int | None:
    """Save ``url`` as ``offering``'s meeting link and tell its confirmed attendees, as the
    offering form does (``offering_schedule_changed`` with ``link_changed``). Returns the number
    of update emails queued, or None when the link was already ``url`` (nothing done)."""
    with transaction.atomic():
        locked = Offering.objects.select_for_update().get(pk=offering.pk)
        if locked.meeting_url == url:
            return None
        locked.meeting_url = url
        locked._history_user = user  # type: ignore[attr-defined]
        locked.save(update_fields=["meeting_url", "updated_at"])
        offering_schedule_changed(locked, link_changed=True)
        return Registration.objects.filter(offering=locked, state=S.CONFIRMED).count()


@register_offering_action
@admin.action(description="Set the meeting link…", permissions=["change"])
def set_the_meeting_link(modeladmin, request: HttpRequest, queryset: QuerySet[Offering]):
    """A page asking for the link; on a valid POST, ``set_link`` for each selected class that
    is not cancelled, and a message with how many classes changed and emails went out."""
    offerings = list(queryset.select_related("course").prefetch_related("sessions").order_by("pk"))
    form = MeetingLinkForm(request.POST if "meeting_url" in request.POST else None)
    if form.is_valid():
        url = form.cleaned_data["meeting_url"]
        changed = emails = 0
        for offering in offerings:
            if offering.status == Offering.Status.CANCELLED:
                continue
            sent = set_link(offering, url, request.user)
            if sent is not None:
                changed += 1
                emails += sent
        modeladmin.message_user(
            request,
            f"Meeting link set on {changed} class{'es' if changed != 1 else ''}; "
            f"{emails} update email{'s' if emails != 1 else ''} to confirmed attendees.",
        )
        return None
    return TemplateResponse(
        request,
        "admin/courses/offering_meeting_link.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Set the meeting link",
            "offerings": offerings,
            "form": form,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )
