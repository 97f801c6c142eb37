"""Settings fail closed (``citreg.startup``): without ``DJANGO_SETTINGS_MODULE`` the web, ASGI,
management and Celery entry points refuse to start unless ``DEBUG`` is explicitly true, and then
they run the development settings. Each runs as a real process with a clean environment."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from citreg.startup import DEVELOPMENT_SETTINGS, REFUSAL, choose_settings_module
from tests.conftest import REPO

# What each entry point does when a server, a worker or an operator starts it.
ENTRY_POINTS = {
    "wsgi": [sys.executable, "-c", "import citreg.wsgi as m; print(m.application)"],
    "asgi": [sys.executable, "-c", "import citreg.asgi as m; print(m.application)"],
    "manage.py": [sys.executable, "manage.py", "diffsettings", "--output", "unified"],
    "celery": [
        sys.executable,
        "-c",
        "from citreg.celery_app import app; print(app.conf.broker_url)",
    ],
}


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(  # noqa: S603
        command, cwd=REPO, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_refuses_to_start_without_a_settings_module(entry_point):
    result = run(ENTRY_POINTS[entry_point])
    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set, so citreg will not start" in result.stderr
    if entry_point == "manage.py":  # a message, not a traceback
        assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_debug_off_explicitly_is_still_a_refusal(entry_point):
    result = run(ENTRY_POINTS[entry_point], DEBUG="False")
    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set" in result.stderr


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_starts_with_the_development_settings_when_debug_is_explicitly_on(entry_point, tmp_path):
    result = run(
        ENTRY_POINTS[entry_point], DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3"
    )
    assert result.returncode == 0, result.stderr
    if entry_point == "manage.py":
        # The development settings, with their debug pages and public development key.
        assert "+ DEBUG = True" in result.stdout
        assert "django-insecure-development-only-key" in result.stdout
    if entry_point == "celery":
        assert result.stdout.startswith("filesystem://")


def test_the_base_settings_named_explicitly_still_need_debug_for_the_public_key():
    result = run(ENTRY_POINTS["wsgi"], DJANGO_SETTINGS_MODULE=DEVELOPMENT_SETTINGS)
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a long random value when DEBUG is off" in result.stderr


def test_choose_settings_module_rules():
    explicit = {"DJANGO_SETTINGS_MODULE": " citreg.settings.production "}
    assert choose_settings_module(explicit) == "citreg.settings.production"
    for spelling in ("True", "1", "yes", "on"):
        environ = {"DEBUG": spelling}
        assert choose_settings_module(environ) == DEVELOPMENT_SETTINGS
        assert environ["DJANGO_SETTINGS_MODULE"] == DEVELOPMENT_SETTINGS  # for child processes
    for environ in ({}, {"DEBUG": "False"}, {"DEBUG": ""}, {"DJANGO_SETTINGS_MODULE": " "}):
        with pytest.raises(ImproperlyConfigured, match="DJANGO_SETTINGS_MODULE is not set"):
            choose_settings_module(environ)
    assert "citreg.settings.production" in REFUSAL and "DEBUG=True" in REFUSAL
