"""Admin: certificates of completion (``registrations.certificates``).

The list searches by number (as typed: case, spaces and dashes ignored) and by name. A
certificate's page shows what it states, read-only, with three buttons: download the PDF (the
view permission), revoke with a reason and reissue after a name correction (both the change
permission, ``roles.CHANGE_CERTIFICATE``, held by the Training administrator group). Nobody adds
or deletes certificates here: they are issued on completion and kept as the training record.
Each revocation and reissue is in the certificate's History (who, when, why) and in the admin's
log.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from courses.admin import HistoryAdmin
from courses.text import MultiLineField
from registrations import roles
from registrations.certificates import service
from registrations.certificates.models import Certificate
from registrations.certificates.pdf import pdf_response


class RevokeForm(forms.Form):
    """The reason for revoking, kept in the certificate and its history (never shown on the
    public page)."""

    reason = MultiLineField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Why the certificate no longer stands, e.g. “Attendance record corrected: "
        "day 2 was not attended.”",
    )


class RevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("valid", "Valid"), ("revoked", "Revoked"), ("reissued", "Reissued")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "valid":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "reissued":
            return queryset.filter(reissued_at__isnull=False)
        return queryset


@admin.register(Certificate)
class CertificateAdmin(HistoryAdmin, admin.ModelAdmin):
    list_display = ["number", "name", "course_title", "dates_label", "issued_at", "status", "pdf"]
    list_filter = [RevokedFilter]
    search_fields = ["number", "name"]
    list_select_related = ["registration"]
    fields = [
        "number", "name", "course_title", "dates_label", "contact_hours", "credits", "ceus",
        "instructors", "provider", "issued_at", "reissued_at", "revoked_at", "revoked_reason",
        "registration_link",
    ]  # fmt: skip
    readonly_fields = fields
    change_form_template = "admin/registrations/certificate/change_form.html"

    # Read-only pages for everyone; revoking and reissuing are their own buttons.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def may_revoke(self, request: HttpRequest) -> bool:
        """Whether ``request.user`` may revoke and reissue (``roles.CHANGE_CERTIFICATE``)."""
        return request.user.has_perm(roles.CHANGE_CERTIFICATE)

    @admin.display(description="status")
    def status(self, certificate: Certificate) -> str:
        if certificate.revoked_at is not None:
            return "revoked"
        return "reissued" if certificate.reissued_at is not None else "valid"

    @admin.display(description="PDF")
    def pdf(self, certificate: Certificate) -> str:
        url = reverse("admin:registrations_certificate_pdf", args=[certificate.pk])
        return format_html('<a href="{}">Download</a>', url)

    @admin.display(description="registration")
    def registration_link(self, certificate: Certificate) -> str:
        url = reverse("admin:registrations_registration_change", args=[certificate.registration_id])
        return format_html('<a href="{}">{}</a>', url, certificate.registration)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """Django's search, plus the number as people type it ("7kqm x4pa 93td")."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        number = service.normalise_number(search_term)
        if number:
            results = queryset.filter(Q(pk__in=results.values("pk")) | Q(number=number))
        return results, duplicates

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:pk>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="registrations_certificate_pdf",
            ),
            path(
                "<int:pk>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="registrations_certificate_revoke",
            ),
            path(
                "<int:pk>/reissue/",
                self.admin_site.admin_view(self.reissue_view),
                name="registrations_certificate_reissue",
            ),
        ]
        return own + super().get_urls()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "may_revoke": self.may_revoke(request)}
        return super().changeform_view(request, object_id, form_url, extra)

    def _certificate(self, request: HttpRequest, pk: int, *, change: bool) -> Certificate:
        allowed = self.may_revoke(request) if change else self.has_view_permission(request)
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(Certificate.objects.select_related("registration"), pk=pk)

    def _back(self, certificate: Certificate) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:registrations_certificate_change", args=[certificate.pk])
        )

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the certificate's PDF (a revoked one says so on the page)."""
        if request.method not in ("GET", "HEAD"):
            raise Http404
        return pdf_response(self._certificate(request, pk, change=False))

    def revoke_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the reason form; POST: revoke with that reason."""
        certificate = self._certificate(request, pk, change=True)
        form = RevokeForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if certificate.revoked_at is None:
                reason = form.cleaned_data["reason"]
                certificate = service.certificate_revoke(
                    certificate, reason=reason, user=request.user
                )
                self.log_change(request, certificate, f"Revoked: {reason}")
                self.message_user(request, f"Certificate {certificate.number} is revoked.")
            else:
                self.message_user(request, "This certificate was already revoked.", messages.INFO)
            return self._back(certificate)
        return TemplateResponse(
            request,
            "admin/registrations/certificate/revoke.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Revoke certificate {certificate.number}",
                "certificate": certificate,
                "form": form,
            },
            status=400 if request.method == "POST" else 200,
        )

    def reissue_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: what changes (the name as printed and as registered now); POST: reissue under
        the same number and email the new PDF."""
        certificate = self._certificate(request, pk, change=True)
        if request.method == "POST":
            try:
                certificate = service.certificate_reissue(certificate, user=request.user)
            except service.CertificateRefused as refused:
                self.message_user(request, refused.message, messages.ERROR)
                return self._back(certificate)
            self.log_change(request, certificate, "Reissued.")
            self.message_user(
                request,
                f"Certificate {certificate.number} is reissued as {certificate.name}; the new "
                "PDF is emailed to the attendee.",
            )
            return self._back(certificate)
        return TemplateResponse(
            request,
            "admin/registrations/certificate/reissue.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Reissue certificate {certificate.number}",
                "certificate": certificate,
                "current_name": certificate.registration.full_name,
            },
        )
