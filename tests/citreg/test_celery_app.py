"""The broker settings (``citreg/settings/base.py``, Celery section) and ``citreg.celery_app``:
which transport a URL selects, the visibility timeout and key prefix from the environment, and
the filesystem broker's folders made at start. Each case is a fresh process with its own
environment."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SHOW = (
    "import django, json; django.setup(); from citreg.celery_app import app; "
    "print(json.dumps({'transport': app.conf.broker_transport, "
    "'options': app.conf.broker_transport_options}))"
)


def run(**env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DEBUG": "True",
        "DJANGO_SETTINGS_MODULE": "citreg.settings.base",
        **env,
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", SHOW], cwd=REPO, env=clean, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def shown(**env: str) -> dict:
    result = run(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_filesystem_url_selects_citregs_transport_and_makes_its_folders(tmp_path):
    folder = tmp_path / "broker"

    conf = shown(CELERY_BROKER_URL="filesystem://localhost/", CELERY_BROKER_FOLDER=str(folder))

    assert conf["transport"] == "citreg.filesystem_broker:Transport"
    options = conf["options"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(folder / "queue")
    assert options["incoming_folder"] == str(folder / "incoming")
    assert options["processed_folder"] == str(folder / "processed")
    assert sorted(path.name for path in folder.iterdir()) == [
        "control", "incoming", "processed", "queue",
    ]  # fmt: skip


def test_redis_takes_the_visibility_timeout_and_key_prefix_from_the_environment():
    conf = shown(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9",
        CELERY_VISIBILITY_TIMEOUT_SECONDS="7",
        CELERY_BROKER_KEY_PREFIX="citreg-run-abc:",
    )

    assert conf["transport"] is None  # the URL's own (redis)
    assert conf["options"]["visibility_timeout"] == 7
    assert conf["options"]["global_keyprefix"] == "citreg-run-abc:"


def test_redis_defaults_to_an_hour_and_no_prefix():
    options = shown(REDIS_URL="redis://127.0.0.1:6379/9")["options"]

    assert options["visibility_timeout"] == 3600
    assert "global_keyprefix" not in options


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_visibility_timeout_below_one_second_is_refused(value):
    result = run(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9", CELERY_VISIBILITY_TIMEOUT_SECONDS=value
    )

    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT_SECONDS must be 1 or more" in result.stderr
