"""The page django-axes answers a locked-out sign-in with (``AXES_LOCKOUT_CALLABLE``).

Status 429 with ``Retry-After`` (RFC 6585), as the site's rate limits answer, and a page that
says how long sign-in is paused and what to do (``templates/two_factor/locked_out.html``).
"""

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """Render the lockout page.

    Args:
        request: the refused sign-in.
        original_response: what the login view answered (not used; axes replaces it).
        credentials: what was submitted (not used: the page names no account).

    Returns:
        A 429 response whose ``Retry-After`` is the cool-off (``AXES_COOLOFF_TIME``) in seconds.
    """
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": math.ceil(seconds / 60)}
    response = render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=429)
    response["Retry-After"] = str(seconds)
    return response
