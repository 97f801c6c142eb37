"""Certificates: the public verification page and the attendee's download
(``registrations.certificates``; ``docs/architecture.md``, "Certificates").

``/certificates/<number>/`` is for anyone who holds a certificate (an agency, a state board):
it confirms the name, the course, the dates and the contact hours, and says when the
certificate was revoked; nothing else (no email, agency, instructor or reason). Unknown numbers
answer 404. Every lookup counts against a per-address limit (``RATELIMIT_CERTIFICATE_IP``), so
numbers cannot be tried in bulk. The page is not ``public_page``: a cache must neither keep
showing a certificate after it is revoked nor answer lookups the limit should count; it is
also kept out of search engines (``X-Robots-Tag``).
"""

from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from courses.timefmt import date_range_label
from registrations import links
from registrations.certificates import service
from registrations.certificates.pdf import amount, pdf_response
from registrations.models import Registration

from .confirm import signed_link
from .ratelimits import too_many_requests

NOINDEX = "noindex, nofollow"


def lookup_over_limit(request: HttpRequest) -> bool:
    """True when this client address looked up more certificates than
    ``RATELIMIT_CERTIFICATE_IP`` allows (counted for every lookup, found or not)."""
    if not settings.RATELIMIT_ENABLE:
        return False
    return is_ratelimited(
        request,
        group="certificate:ip",
        key="ip",
        rate=settings.RATELIMIT_CERTIFICATE_IP,
        method=ALL,
        increment=True,
    )


def _day(certificate: service.Certificate, moment: datetime | None) -> str:
    """The date of ``moment`` in the class's zone ("December 14, 2024"), or ""."""
    if moment is None:
        return ""
    local = moment.astimezone(certificate.registration.offering.zone).date()
    return date_range_label(local, local)


@require_http_methods(["GET", "HEAD"])
def verify(request: HttpRequest, number: str) -> HttpResponse:
    """The verification page of one certificate; 404 when no certificate has ``number``, 429
    over the limit."""
    if lookup_over_limit(request):
        return too_many_requests(request)
    certificate = service.find(number)
    if certificate is None:
        raise Http404("No certificate has this number.")
    response = render(
        request,
        "registrations/certificate_verify.html",
        {
            "cert": certificate,
            "hours": amount(certificate.contact_hours),
            "revoked_on": _day(certificate, certificate.revoked_at),
            "reissued_on": _day(certificate, certificate.reissued_at),
        },
    )
    response["X-Robots-Tag"] = NOINDEX
    return response


@require_http_methods(["GET", "HEAD"])
@signed_link(links.MANAGE, "registrations:manage-certificate")
def attendee_certificate(request: HttpRequest, registration: Registration) -> HttpResponse:
    """The attendee's own certificate, from the manage page (the session's manage grant); 404
    when the registration has none or it was revoked."""
    certificate = service.downloadable(registration)
    if certificate is None:
        raise Http404("This registration has no certificate to download.")
    return pdf_response(certificate)
