"""``citreg.settings``: staff sessions, the public development key, production's forced 2FA, and
``manage.py check --deploy`` staying clean under production settings."""

import os
import secrets
import subprocess
import sys

import pytest
import time_machine
from django.conf import settings

from tests.conftest import REPO

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "citreg.settings.production",
    "ALLOWED_HOSTS": "citreg.example.org",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/citreg",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "STRIPE_SECRET_KEY": "sk_live_check",
    "STRIPE_WEBHOOK_SECRET": "whsec_check",
}
SETTING = "import django, json; django.setup(); from django.conf import settings as s; "


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_staff_sessions_last_eight_hours_and_end_with_the_browser():
    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    # Links opened from webmail and returns from Stripe are top-level navigations: Lax sends it.
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_the_session_cookie_has_no_expiry_and_the_server_ends_it_after_eight_hours(
    client, django_user_model
):
    django_user_model.objects.create_user("trainer", password="x", is_staff=True)
    with time_machine.travel("2027-03-01 08:00 -0700", tick=False) as clock:
        response = client.post("/admin/login/", {"username": "trainer", "password": "x"})
        assert response.status_code == 302
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert not cookie["expires"] and not cookie["max-age"]  # gone when the browser closes
        assert cookie["samesite"] == "Lax"
        clock.shift(8 * 60 * 60 - 60)
        assert client.get("/admin/").status_code == 200
        clock.shift(2 * 60)
        assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "key", ["", "django-insecure-development-only-key-never-use-in-production"]
)
def test_the_base_settings_refuse_the_public_key_with_debug_off(key):
    result = run(
        "import citreg.settings.base",
        DJANGO_SETTINGS_MODULE="citreg.settings.base", DEBUG="False", SECRET_KEY=key,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a long random value when DEBUG is off" in result.stderr


def test_production_refuses_the_public_key_even_when_debug_is_on_in_the_environment():
    result = run(
        SETTING + "print(s.SECRET_KEY)",
        **PRODUCTION_ENV,
        DEBUG="True",
        SECRET_KEY="django-insecure-development-only-key-never-use-in-production",
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_forces_staff_two_factor_on():
    result = run(
        SETTING + "print(json.dumps([s.STAFF_2FA_REQUIRED, s.DEBUG]))",
        **PRODUCTION_ENV,
        SECRET_KEY=secrets.token_urlsafe(50),
        STAFF_2FA_REQUIRED="False",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[true, false]"
    assert "two-factor sign-in is OFF" not in result.stderr


@pytest.mark.parametrize(("flag", "warned"), [("False", True), ("True", False)])
def test_a_process_says_at_start_when_staff_two_factor_is_off(flag, warned, tmp_path):
    result = run(
        "import django; django.setup()",
        DEBUG="True", STAFF_2FA_REQUIRED=flag, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        DJANGO_SETTINGS_MODULE="citreg.settings.base",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ("Staff two-factor sign-in is OFF (STAFF_2FA_REQUIRED=False)" in result.stderr) is warned


def test_the_old_rate_limit_address_setting_is_refused_not_ignored():
    result = run(
        "import citreg.settings.base",
        DEBUG="True", RATELIMIT_IP_META_KEY="HTTP_X_FORWARDED_FOR",
    )  # fmt: skip
    assert result.returncode != 0
    assert "RATELIMIT_IP_META_KEY is replaced by CLIENT_IP_HEADER" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={
            "PATH": os.environ.get("PATH", ""),
            **PRODUCTION_ENV,
            "SECRET_KEY": secrets.token_urlsafe(50),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
