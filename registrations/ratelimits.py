"""Abuse limits for the public POST endpoints (django-ratelimit), per client IP and per email.

Limits come from settings (``RATELIMIT_REGISTER``, ``RATELIMIT_LINK_REQUEST``, e.g. "10/h").
The limiter fails open (``RATELIMIT_FAIL_OPEN``): when the cache is down, requests go through.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited


def _email_key(group: str, request: HttpRequest) -> str:
    return request.POST.get("email", "").strip().lower()


def over_limit(request: HttpRequest, group: str, rate_setting: str) -> bool:
    """True when this POST is over the limit for its IP or for the email it carries.

    Args:
        group: a name for the counter, e.g. "register".
        rate_setting: the settings name holding the rate, e.g. "RATELIMIT_REGISTER".
    """
    if not settings.RATELIMIT_ENABLE:
        return False
    rate = getattr(settings, rate_setting)
    by_ip = is_ratelimited(
        request, group=f"{group}:ip", key="ip", rate=rate, method="POST", increment=True
    )
    by_email = bool(request.POST.get("email")) and is_ratelimited(
        request, group=f"{group}:email", key=_email_key, rate=rate, method="POST", increment=True
    )
    return bool(by_ip or by_email)
