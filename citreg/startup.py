"""Which settings a process starts with: settings fail closed (``docs/architecture.md``, "Security
and privacy").

Every entry point (``manage.py``, ``citreg.wsgi``, ``citreg.asgi``, ``citreg.celery_app``) calls
:func:`choose_settings_module` before Django reads its settings. There is no silent fallback to the
development settings, whose public ``SECRET_KEY`` would let anyone forge an attendee's link: a
process starts with the module named in ``DJANGO_SETTINGS_MODULE``, or with the development
settings (``citreg.settings.base``) when ``DEBUG`` is explicitly true in the environment, and
refuses to start otherwise. ``make run`` and ``make test`` set what they need.
"""

import os
from collections.abc import MutableMapping

from django.core.exceptions import ImproperlyConfigured

DEVELOPMENT_SETTINGS = "citreg.settings.base"
# The spellings django-environ reads as true (environ.Env.BOOLEAN_TRUE_STRINGS), so DEBUG means the
# same here as in the settings.
_TRUE = ("true", "on", "ok", "y", "yes", "1")

REFUSAL = (
    "DJANGO_SETTINGS_MODULE is not set, so citreg will not start. In production set "
    "DJANGO_SETTINGS_MODULE=citreg.settings.production; for local development set DEBUG=True "
    "(then the development settings, citreg.settings.base, are used) or run `make run`."
)


def choose_settings_module(environ: MutableMapping[str, str] | None = None) -> str:
    """Return the settings module this process must use, and put it in the environment.

    Args:
        environ: the process environment (default ``os.environ``); ``DJANGO_SETTINGS_MODULE`` is
            set in it when the development settings are chosen, so Django and child processes
            see the same choice.

    Returns:
        The dotted module path: ``DJANGO_SETTINGS_MODULE`` when set (surrounding spaces
        ignored), else ``citreg.settings.base`` when ``DEBUG`` is true (``true``, ``on``, ``ok``,
        ``y``, ``yes`` or ``1``, any case, as django-environ reads it).

    Raises:
        ImproperlyConfigured: neither is set; the message says what to set.
    """
    environ = os.environ if environ is None else environ
    explicit = environ.get("DJANGO_SETTINGS_MODULE", "").strip()
    if explicit:
        return explicit
    if environ.get("DEBUG", "").strip().lower() in _TRUE:
        environ["DJANGO_SETTINGS_MODULE"] = DEVELOPMENT_SETTINGS
        return DEVELOPMENT_SETTINGS
    raise ImproperlyConfigured(REFUSAL)
