"""The processes of a fault drill, all its own: a Redis server on a free port, an SMTP sink,
Celery workers and beat, and gunicorn serving the site, all on the test database.

Nothing here touches the shared Redis (``REDIS_URL`` of the test run) or any other drill's
processes: every process gets the drill's Redis as cache and broker and the drill's SMTP sink
as mail server, through its environment (``Drill.env``). Each process runs in its own process
group, so ``kill9`` kills it with its children (a prefork worker's pool) at once, and teardown
ends exactly the groups the drill started. Logs go to
``artifacts/drills/<drill>-<pid of the test run>/<process>.log`` (test runs at the same time
keep apart); their tails are printed when a drill fails, and they are kept only then.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import requests
from django.contrib.auth.models import User
from django.test import Client

from devtools.stripe_standin import sign
from tests.registrations.stripe_helpers import WEBHOOK, WHSEC
from tests.services import REPO, VENV_BIN, free_port, smtp_server, subprocess_env, wait_for

LOG_DIR = REPO / "artifacts" / "drills"
# Durations of the drill's processes (seconds). The drill settings (``tests/drills/settings.py``)
# read the DRILL_* ones; the others are the project's own settings.
DRILL_DURATIONS = {
    "DRILL_BEAT_SECONDS": "2",
    "DRILL_VISIBILITY_TIMEOUT_SECONDS": "10",
    "EMAIL_SENDING_TIMEOUT_SECONDS": "8",
    "EMAIL_SWEEP_GRACE_SECONDS": "2",
    "EMAIL_RETRY_BASE_SECONDS": "0.5",
}
# A worker like production's: the prefork pool, acks late, one message prefetched per process.
WORKER_CONCURRENCY = 2


def listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Process:
    """One long-running process of a drill, in its own process group.

    ``ready(process)`` says when it has started (polled up to ``start_timeout`` seconds).
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[["Process"], bool]
    start_timeout: float = 60
    popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        """Start the process and wait until it is ready.

        Raises: AssertionError (with the log's tail) when it exits or is not ready in time.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"--- start {' '.join(self.argv)}\n")
            log.flush()
            self.popen = subprocess.Popen(  # noqa: S603
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(lambda: self.exited() or self.ready(self), self.start_timeout, 0.2)
        except AssertionError:
            self.stop()
            raise AssertionError(f"{self.name} did not start:\n{self.log_tail()}") from None
        assert not self.exited(), f"{self.name} exited at start:\n{self.log_tail()}"
        return self

    def exited(self) -> bool:
        return self.popen is None or self.popen.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log()[-chars:]

    def kill9(self) -> None:
        """SIGKILL the whole process group (the process and its children) and reap it."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL it if it has not exited after 15 seconds."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill9()
        # Children (a prefork pool) that outlived their parent go with the group.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class RedisServer:
    """A throwaway ``redis-server`` on a fixed port that a drill stops and starts again; it
    keeps nothing on disk, so a restart loses every queued message (a broker outage at its
    worst)."""

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port)]
        argv += ["--save", "", "--appendonly", "no"]
        self.process = Process("redis", argv, dict(os.environ), log_path, self._ping, 20)

    def _ping(self, _process: Process) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start it (again) on the same port; waits until it answers PING."""
        wait_for(lambda: not listening(self.port), timeout=20)
        self.process.start()

    def stop(self) -> None:
        """Stop it and wait until the port is closed."""
        self.process.stop()
        wait_for(lambda: not listening(self.port), timeout=20)


@dataclass
class Sink:
    """An aiosmtpd handler that accepts every message and keeps it with its envelope recipient.

    ``on_message(count, recipient)`` (optional) runs after the ``count``-th message is stored
    and before the server answers 250: a drill may kill the sending worker right there, the
    worst moment (the message is delivered, the worker never learns it).
    """

    received: list[tuple[str, EmailMessage]] = field(default_factory=list)
    on_message: Callable[[int, str], None] | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        for recipient in envelope.rcpt_tos:
            self.received.append((recipient.lower(), message))
        if self.on_message is not None:
            self.on_message(len(self.received), envelope.rcpt_tos[0].lower())
        return "250 2.0.0 OK: queued"

    def count_by_recipient(self, subject_contains: str = "") -> Counter[str]:
        """How many messages each recipient received (those whose subject contains
        ``subject_contains``)."""
        return Counter(
            recipient
            for recipient, message in list(self.received)
            if subject_contains in str(message["Subject"])
        )

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [message for recipient, message in list(self.received) if recipient == address]


class Drill:
    """A drill's services. ``env`` is the environment of every project process the drill
    starts: the test database, the drill's Redis (cache and broker), its SMTP sink, its web
    address as ``SITE_URL`` and short durations (``DRILL_DURATIONS``)."""

    def __init__(self, name: str, stack: ExitStack, **env: str):
        self.name = name
        self.stack = stack
        self.processes: list[Process] = []
        self.log_dir = LOG_DIR / f"{name}-{os.getpid()}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(free_port(), self.log_dir / "redis.log")
        self.redis.start()
        stack.callback(self.redis.stop)
        self.sink = Sink()
        smtp_port = stack.enter_context(smtp_server(self.sink))  # type: ignore[arg-type]
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = subprocess_env(
            DJANGO_SETTINGS_MODULE="tests.drills.settings",
            REDIS_URL=self.redis.url,
            CELERY_BROKER_URL=self.redis.url,
            CELERY_TASK_DEFAULT_QUEUE="celery",
            EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
            SITE_URL=self.base_url,
            **{**DRILL_DURATIONS, **env},
        )
        self._workers = 0

    def _start(self, process: Process) -> Process:
        self.processes.append(process)
        self.stack.callback(process.stop)
        return process.start()

    def worker(self, concurrency: int = WORKER_CONCURRENCY) -> Process:
        """Start a Celery worker (prefork, ``concurrency`` processes) on the drill's broker."""
        self._workers += 1
        name = f"worker{self._workers}"
        argv = [str(VENV_BIN / "celery"), "-A", "citreg", "worker", "--pool", "prefork"]
        argv += ["--concurrency", str(concurrency), "--hostname", f"{self.name}-{name}@%h"]
        argv += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
        argv += ["--loglevel", "INFO"]
        log = self.log_dir / f"{name}.log"
        return self._start(Process(name, argv, self.env, log, lambda p: " ready." in p.log()))

    def beat(self, schedule_dir: Path) -> Process:
        """Start celery beat (the drill settings' short schedule); its state file goes in
        ``schedule_dir``."""
        argv = [str(VENV_BIN / "celery"), "-A", "citreg", "beat", "--loglevel", "INFO"]
        argv += ["--schedule", str(schedule_dir / "beat-schedule"), "--max-interval", "1"]
        log = self.log_dir / "beat.log"
        return self._start(Process("beat", argv, self.env, log, lambda p: "Starting" in p.log()))

    def web(self, workers: int = 2, threads: int = 1, **env: str) -> Process:
        """Start gunicorn with the project's configuration on ``base_url`` (``env`` added to the
        drill's environment)."""
        argv = [str(VENV_BIN / "gunicorn"), "--config", "citreg/gunicorn.conf.py"]
        argv += ["--threads", str(threads), "--timeout", "120", "--graceful-timeout", "5"]
        argv += ["citreg.wsgi"]
        env = {
            **self.env,
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
            "GUNICORN_WORKERS": str(workers),
        }
        log = self.log_dir / "web.log"
        return self._start(Process("web", argv, env, log, self._web_ready))

    def _web_ready(self, _process: Process) -> bool:
        try:
            return requests.get(f"{self.base_url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def report(self) -> str:
        """The tails of every process's log (for a failed drill)."""
        parts = [self.redis.process, *self.processes]
        return "\n".join(f"--- {p.log_path} ---\n{p.log_tail(3000)}" for p in parts)


@contextmanager
def drill_services(name: str, **env: str) -> Iterator[Drill]:
    """A ``Drill`` whose processes all end when the block does (last started, first stopped);
    prints their logs' tails when the block raises, and removes the logs when it does not."""
    with ExitStack() as stack:
        drill = Drill(name, stack, **env)
        try:
            yield drill
        except BaseException:
            print(drill.report())
            raise
    # Passed: ``artifacts/`` keeps only what failed (``.ci/run`` lists it).
    shutil.rmtree(drill.log_dir, ignore_errors=True)


class Browser(requests.Session):
    """A browser-like HTTP client of the drill's web: keeps cookies, sends Django's CSRF token
    with every POST, never follows redirects by itself."""

    def __init__(self, base_url: str, timeout: float = 60):
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        # Only the drill's own web: never another server that happens to run on the machine.
        assert url.startswith(self.base_url + "/"), url
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False  # ``get`` would ask for True
        if method.upper() == "POST" and "csrftoken" in self.cookies:
            kwargs.setdefault("headers", {})["X-CSRFToken"] = self.cookies["csrftoken"]
        return super().request(method, url, *args, **kwargs)


def staff_browser(base_url: str) -> Browser:
    """A ``Browser`` signed in as a superuser: the session is made in the test database, as a
    sign-in would make it (staff two-factor sign-in is off in the test settings)."""
    user = User.objects.create_superuser("drill-admin", "drill-admin@example.org", "x" * 20)
    client = Client()
    client.force_login(user)
    browser = Browser(base_url)
    browser.cookies.set("sessionid", client.cookies["sessionid"].value)
    return browser


def poll(predicate: Callable[[], object], timeout: float, interval: float = 0.5) -> float:
    """Wait for ``predicate`` like ``wait_for``; returns the seconds it took."""
    started = time.monotonic()
    wait_for(predicate, timeout=timeout, interval=interval)
    return time.monotonic() - started


def deliver_event(base_url: str, event: dict) -> int:
    """POST ``event`` to the web's Stripe webhook at ``base_url``, signed now as Stripe signs it
    (``WHSEC``); returns the HTTP status."""
    payload = json.dumps(event).encode()
    return requests.post(
        base_url + WEBHOOK,
        data=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(payload, WHSEC, int(time.time())),
        },
        timeout=60,
    ).status_code
