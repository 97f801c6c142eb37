"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    """Organisation name, contact address, and whether payments run in Stripe test mode.

    Returns a dict with ``organisation_name`` (str), ``training_admin_email`` (str) and
    ``payments_test_mode`` (bool: the secret key is unset or a test key, ``sk_test_…``).
    """
    key = settings.STRIPE_SECRET_KEY
    return {
        "organisation_name": settings.ORGANISATION_NAME,
        "training_admin_email": settings.TRAINING_ADMIN_EMAIL,
        "payments_test_mode": not key or key.startswith(("sk_test_", "rk_test_")),
    }
