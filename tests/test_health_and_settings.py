"""/healthz, the 500 page, the production settings' refusal to start half-configured, and when
the settings read a ``.env`` file."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize(
    ("flag", "read"),
    [(None, False), ("False", False), ("True", True)],
    ids=["unset", "false", "true"],
)
def test_dot_env_file_is_read_only_when_asked(tmp_path, flag, read):
    # The real base settings in a throw-away checkout (BASE_DIR is three levels above base.py),
    # with a .env beside them, imported by a fresh interpreter.
    settings_dir = tmp_path / "citreg" / "settings"
    settings_dir.mkdir(parents=True)
    for package in (tmp_path / "citreg", settings_dir):
        (package / "__init__.py").write_text("")
    shutil.copy(REPO / "citreg" / "settings" / "base.py", settings_dir / "base.py")
    (tmp_path / ".env").write_text(
        "ORGANISATION_NAME=Read from the dot-env file\nTRAINING_ADMIN_EMAIL=dotenv@example.org\n"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_READ_DOT_ENV_FILE", "ORGANISATION_NAME", "PYTHONPATH")
    }
    env["TRAINING_ADMIN_EMAIL"] = "environment@example.org"  # the environment wins over .env
    if flag is not None:
        env["DJANGO_READ_DOT_ENV_FILE"] = flag
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import json, citreg.settings.base as s;"
            "print(json.dumps([s.__file__, s.ORGANISATION_NAME, s.TRAINING_ADMIN_EMAIL]))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    path, organisation, admin_email = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(path).resolve() == (settings_dir / "base.py").resolve()
    expected = "Read from the dot-env file" if read else "CIT Training Administration"
    assert organisation == expected
    assert admin_email == "environment@example.org"
