"""Admin: "email the attendees" of a class (drafts, preview, sending, progress, retries).

Sending and retrying need ``send_broadcast`` besides the change permission; the preview shows a
placeholder for each recipient's personal link (``broadcasts.PREVIEW_MANAGE_URL``), never a
working one.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from courses.admin import SingleLineFieldsAdmin
from registrations import roles
from registrations.messaging import broadcasts
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast


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
class BroadcastAdmin(SingleLineFieldsAdmin, admin.ModelAdmin):
    """Write to a class's attendees: draft, preview for one recipient, send, watch the progress
    (the page refreshes itself while messages are queued), retry the failed ones. The rules are
    in ``registrations.messaging.broadcasts``; the subject is one line
    (``SingleLineFieldsAdmin``)."""

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

    def save_model(
        self, request: HttpRequest, obj: Broadcast, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: Broadcast, post_url_continue: str | None = None
    ) -> HttpResponse:
        """After saving a draft, stay on its page to preview and send it."""
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[obj.pk]))

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/send/", wrap(self.send_view), name="registrations_broadcast_send"),
            path("<int:pk>/retry/", wrap(self.retry_view), name="registrations_broadcast_retry"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        broadcast = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if broadcast is not None:
            extra.update(self._status_context(request, broadcast))
        return super().change_view(request, object_id, form_url, extra)

    def has_send_broadcast_permission(
        self, request: HttpRequest, broadcast: Broadcast | None = None
    ) -> bool:
        """Sending (and retrying) needs ``send_broadcast`` and the change permission."""
        return request.user.has_perm(roles.SEND_BROADCAST) and self.has_change_permission(
            request, broadcast
        )

    def _status_context(self, request: HttpRequest, broadcast: Broadcast) -> dict:
        context: dict = {
            "broadcast": broadcast,
            "placeholders": broadcasts.PLACEHOLDERS,
            "can_send": self.has_send_broadcast_permission(request, broadcast),
        }
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
            rows = broadcasts.batch_emails(broadcast)
            context["failures"] = rows.filter(status=OutboundEmail.Status.FAILED).order_by(
                "to_email"
            )
            context["retrying"] = rows.filter(
                status=OutboundEmail.Status.QUEUED, attempts__gt=0
            ).order_by("to_email")
        return context

    def _post_only(self, request: HttpRequest, pk: int) -> Broadcast:
        if request.method != "POST":
            raise PermissionDenied
        broadcast = get_object_or_404(Broadcast, pk=pk)
        if not self.has_send_broadcast_permission(request, broadcast):
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
                f"{settings.BROADCAST_RATE_PER_MINUTE:g} a minute.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[pk]))

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        broadcast = self._post_only(request, pk)
        count = broadcasts.broadcast_retry_failed(broadcast)
        self.message_user(request, f"{count} failed message(s) queued again.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:registrations_broadcast_change", args=[pk]))
