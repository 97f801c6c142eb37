"""Real services for tests that cross process boundaries: an SMTP server on loopback (aiosmtpd),
a throwaway Redis on another port, and a Celery worker subprocess."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from django.db import connection

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.1) -> object:
    """Poll ``predicate`` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@dataclass
class ScriptedSMTPHandler:
    """An aiosmtpd handler that answers DATA with scripted replies, then accepts.

    ``replies`` is consumed one per message: e.g. ``["451 4.3.0 Try again later"] * 2`` defers
    twice; ``"550 5.1.1 No such user"`` refuses. Accepted messages are kept, parsed, in
    ``messages``.
    """

    replies: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    attempts: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 2.0.0 OK: queued"


@contextmanager
def smtp_server(handler: ScriptedSMTPHandler) -> Iterator[int]:
    """Run an SMTP server on 127.0.0.1 with ``handler``; yields its port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def current_database_url() -> str:
    """A ``DATABASE_URL`` for the test database this process uses (for subprocesses)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment for a project subprocess: test settings, the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "citreg.settings.test",
        "DATABASE_URL": current_database_url(),
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


@contextmanager
def redis_server(port: int | None = None) -> Iterator[int]:
    """Start a throwaway ``redis-server`` on ``port`` (default: a free one); yields the port."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _listening(port), timeout=10)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def celery_worker(env: dict[str, str], queue: str) -> Iterator[subprocess.Popen]:
    """Run ``celery -A citreg worker`` (solo pool) on ``queue`` until the block ends.

    Its output goes to a log file under ``artifacts/`` whose tail is printed if the block fails.
    """
    log_dir = REPO / "artifacts"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / f"worker-{queue}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603
            [
                str(VENV_BIN / "celery"),
                "-A",
                "citreg",
                "worker",
                "--pool",
                "solo",
                "-Q",
                queue,
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "ready." in log_path.read_text() or process.poll() is not None, 30)
        assert process.poll() is None, log_path.read_text()
        yield process
    except BaseException:
        print(f"--- worker log {log_path} ---\n{log_path.read_text()[-4000:]}")
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a subprocess; returns the completed process (text output)."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_thread(target: Callable[[], None]) -> threading.Thread:
    """Start ``target`` in a daemon thread and return the thread."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
