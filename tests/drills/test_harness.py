"""``tests.drills.harness``: a drill's processes reach only the drill's own services, and a
killed process takes its children with it."""

import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.drills.harness import Process, drill_services
from tests.services import wait_for

pytestmark = pytest.mark.drill


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_environment_names_only_the_drills_own_services():
    shared = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    with drill_services("harness") as drill:
        env = drill.env
        assert env["REDIS_URL"] == env["CELERY_BROKER_URL"] == drill.redis.url != shared
        assert urlsplit(drill.redis.url).port == drill.redis.port != 6379
        assert env["EMAIL_URL"].startswith("smtp://127.0.0.1:")
        assert env["SITE_URL"] == drill.base_url
        assert env["DJANGO_SETTINGS_MODULE"] == "tests.drills.settings"
        log_dir = drill.log_dir
    assert not log_dir.exists()  # a drill that passed leaves no logs


def test_kill9_kills_the_process_and_its_children(tmp_path):
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print('spawned', child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    process = Process(
        "parent",
        [sys.executable, "-c", code],
        dict(os.environ),
        tmp_path / "parent.log",
        lambda p: re.search(r"^spawned \d+$", p.log(), re.MULTILINE) is not None,
    ).start()
    found = re.search(r"^spawned (\d+)$", process.log(), re.MULTILINE)
    assert found
    child = int(found.group(1))
    assert alive(child)
    process.kill9()
    assert process.exited()
    assert process.popen is not None and process.popen.returncode == -9
    wait_for(lambda: not alive(child), timeout=10)
