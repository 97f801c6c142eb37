"""Abuse limits for the public POST endpoints (django-ratelimit), per client IP and per email.

Rates come from settings ("count/period", e.g. "10/h"): ``<NAME>`` per email address (or per
the key given) and ``<NAME>_IP`` per client IP, which is higher because a call center's staff
often share one public address. The limiter fails open (``RATELIMIT_FAIL_OPEN``): when the
cache is down, requests go through.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from registrations import addresses


def too_many_requests(request: HttpRequest) -> HttpResponse:
    """The 429 page: what happened and when to try again (``Retry-After``, RFC 6585)."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "3600"
    return response


def over_limit(
    request: HttpRequest, group: str, rate_setting: str, *, key: str | None = None
) -> bool:
    """True when this POST is over the limit for its IP, or for its key (default: the email
    it carries).

    Args:
        group: a name for the counters, e.g. "register".
        rate_setting: the settings name of the per-key rate, e.g. "RATELIMIT_REGISTER"; the
            per-IP rate is ``<rate_setting>_IP``.
        key: what to count besides the IP (default: the posted "email" in its normal form,
            lower-cased, so that ``Bücher`` and ``xn--bcher-kva`` share one counter).
    """
    if not settings.RATELIMIT_ENABLE:
        return False
    value = key if key is not None else addresses.comparable_email(request.POST.get("email", ""))
    by_ip = is_ratelimited(
        request, group=f"{group}:ip", key="ip", rate=getattr(settings, f"{rate_setting}_IP"),
        method="POST", increment=True,
    )  # fmt: skip
    by_key = bool(value) and is_ratelimited(
        request, group=f"{group}:key", key=lambda group, request: value,
        rate=getattr(settings, rate_setting), method="POST", increment=True,
    )  # fmt: skip
    return bool(by_ip or by_key)
