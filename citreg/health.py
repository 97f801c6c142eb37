"""The ``/healthz`` endpoint for load balancers and process supervisors."""

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _cache_ok() -> bool:
    # The production cache ignores Redis errors (fails open), so a failed round trip shows up as
    # a miss, not an exception; anything else is reported, never raised.
    try:
        cache.set("healthz", "ok", 10)
        return cache.get("healthz") == "ok"
    except Exception:  # noqa: BLE001
        return False


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the site can serve requests.

    Returns JSON ``{"status": "ok"|"unavailable", "database": "ok"|"unavailable",
    "cache": "ok"|"degraded"}`` with status 200 when the database answers and 503 when it does not.
    The cache's state is reported but never fails the check: pages work without it.
    """
    database = _database_ok()
    body = {
        "status": "ok" if database else "unavailable",
        "database": "ok" if database else "unavailable",
        "cache": "ok" if _cache_ok() else "degraded",
    }
    return JsonResponse(body, status=200 if database else 503)
