"""/healthz, the 500 page, and the production settings' refusal to start half-configured."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import REPO

pytestmark = pytest.mark.django_db

PROBE = (
    "import django, json; django.setup();"
    "from django.test import Client;"
    "r = Client().get('/healthz');"
    "print(json.dumps({'status': r.status_code, 'body': json.loads(r.content)}))"
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "citreg.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthz_ok(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_healthz_503_when_database_is_unreachable_and_cache_degraded_is_not_fatal():
    # A real process whose database and Redis are a closed port: nothing listens on port 9.
    result = run_python(
        PROBE,
        DATABASE_URL="postgres://postgres@127.0.0.1:9/citreg",
        REDIS_URL="redis://127.0.0.1:9/0",
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe == {
        "status": 503,
        "body": {"status": "unavailable", "database": "unavailable", "cache": "degraded"},
    }


def test_healthz_200_with_cache_down():
    db = connection.settings_dict  # the test database, which exists
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = run_python(PROBE, DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:9/0")
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["status"] == 200 and probe["body"]["cache"] == "degraded"


def test_production_settings_refuse_to_start_without_secrets():
    result = run_python(
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="citreg.settings.production",
        SECRET_KEY="",
        ALLOWED_HOSTS="",
        DATABASE_URL="",
        REDIS_URL="",
    )
    assert result.returncode != 0
    assert "SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL" in result.stderr


def test_500_page_is_plain_and_friendly():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html
