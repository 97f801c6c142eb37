"""``make run`` under a burst: 200 registrations and 200 link requests through the web, back to
back, and a check that nothing was lost.

Usage::

    .venv/bin/python bench/default_run_burst.py [--registrations 200] [--link-requests 200] \\
        [--clients 4] [--broker auto|filesystem] [--timeout 240] [--kill-worker] \\
        [--set NAME=VALUE ...] [--keep]

(or ``make bench-default-run BENCH_ARGS="--clients 8"``). The script copies this checkout
(without ``var/``, ``.env``, ``.git`` and the virtualenv, which it links) into a temporary
folder, as a newcomer's fresh clone, and runs ``make run`` there on two free ports, with mail
written to files (``EMAIL_URL=filemail://…``) and the rate limits off (``RATELIMIT_ENABLE=False``:
they exist to refuse exactly this, hundreds of forms from one address). ``--broker filesystem``
sets ``CELERY_BROKER_URL=filesystem://localhost/``, the broker of a machine without Redis;
``auto`` lets the run choose as it would for you (a Redis server that answers, else the
filesystem).

Then ``--clients`` browsers (one ``requests`` session per person) each fetch the registration
form of the first open class and POST it with its CSRF token, one person after another, then do
the same with "email me my link" for each registered address. Each registration queues one email
(the work-email confirmation), each link request one task that queues one email (the manage
link). The bench waits until every expected email is ``sent`` (or ``--timeout`` seconds) and
checks, reading the run's SQLite database and mail folder:

- every POST answered as a person expects (302 to "check your email", 200 "link sent");
- every registration is in the database, every email row is ``sent``, and each sent message is
  in the mail files exactly once (by Message-ID);
- no process of the run died (``keep_running`` lines in its output), and ``/healthz`` answers.

``--kill-worker`` kills the worker's main process with SIGKILL halfway through the link requests
and checks that ``keep_running`` brings it back while the web keeps answering. Emails in the
worker's hands at the kill come back through the outbox's sweeper (give ``--timeout`` room for
``EMAIL_SWEEP_GRACE_SECONDS`` and ``EMAIL_SENDING_TIMEOUT_SECONDS``, or ``--set`` them shorter);
tasks Redis had recorded as unacknowledged come back after ``CELERY_VISIBILITY_TIMEOUT_SECONDS``;
a link request (a task with no row) taken by the dead worker is lost, at most three of them
(one per pool process and one being received), which the bench reports rather than fails on.

Figures are printed as ratios to ceilings measured in the same run: the web's against
``GET /healthz`` by the same clients just before the burst; the emails against the rate the web
queued them and against the same work done in one process without broker or worker
(``outbox.email_send`` on rows queued for it, after the burst). Exits 1 when anything was lost
or a process died unasked.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "var", ".env", "staticfiles", "artifacts", "__pycache__",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".import_linter_cache",
)  # fmt: skip
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
COURSE_LINK = re.compile(r'href="(/courses/[\w-]+/)"')
REGISTER_LINK = re.compile(r'href="(/courses/[\w-]+/classes/\d+/register/)"')
READY = re.compile(r"celery@\S+ ready")
DEATH = re.compile(r"keep_running: \w+ (exited with|killed by|.*NOT restarting)")

# Measured in the run's own process after the burst: the ceiling for sending (no broker, no
# worker): rows queued with publish=False, then outbox.email_send on each, one after another.
CEILING = """
import sys, time
import django
django.setup()
from django.db import transaction
from registrations.messaging import outbox
count = int(sys.argv[1])
ids = []
for number in range(count):
    with transaction.atomic():
        ids.append(outbox.email_queue(kind="test", to_email="ceiling@example.org",
            template="emails/test", dedupe_key=f"ceiling:{number}:{time.time()}",
            context={"queued_at": "now"}, publish=False).email.pk)
started = time.monotonic()
for pk in ids:
    outbox.email_send(pk)
print(count / (time.monotonic() - started))
"""


def free_port() -> int:
    """A TCP port nobody listens on now (the OS's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 when ``values`` is empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


class Run:
    """``make run`` in a fresh copy of the checkout, on free ports; stopped with ``stop()``."""

    def __init__(self, folder: Path, broker: str):
        self.folder = folder
        self.web_port, self.standin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.log_path = folder / "run.log"
        self.mail = folder / "var" / "mail"
        shutil.copytree(REPO, folder, ignore=COPY_IGNORE, dirs_exist_ok=True)
        (folder / ".venv").symlink_to(REPO / ".venv")
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_", "STRIPE_", "REDIS_", "DATABASE_"))
            and key not in {"DEBUG", "SITE_URL", "EMAIL_URL", "SECRET_KEY", "MAKEFLAGS"}
        }
        self.env.update(
            CITREG_PORT=str(self.web_port),
            STRIPE_STANDIN_PORT=str(self.standin_port),
            EMAIL_URL=f"filemail://{self.mail}",
            RATELIMIT_ENABLE="False",
        )
        if broker == "filesystem":
            self.env["CELERY_BROKER_URL"] = "filesystem://localhost/"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float) -> None:
        """Start ``make run`` and wait until the web answers and the worker is ready.

        Raises: RuntimeError (with the end of the run's output) when it does not in time.
        """
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 -- make, in the copy
            [shutil.which("make") or "make", "--no-print-directory", "run"],
            cwd=self.folder, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make run exited:\n{self.output()[-3000:]}")
            if READY.search(self.output()) and self.healthy():
                return
            time.sleep(0.5)
        raise RuntimeError(f"make run did not come up in {timeout:g} s:\n{self.output()[-3000:]}")

    def healthy(self) -> bool:
        """True when ``/healthz`` answers 200."""
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        """Everything the run printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; then SIGKILL whatever is left of its process group."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(40)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log.close()

    def database(self) -> sqlite3.Connection:
        """The run's SQLite database, read-only."""
        path = self.folder / "var" / "citreg.sqlite3"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def ceiling(self, count: int) -> float:
        """Messages per second sent in one process with no broker (see ``CEILING``)."""
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "citreg.settings.base", "DEBUG": "True"}
        result = subprocess.run(  # noqa: S603 -- the copy's python
            [str(self.folder / ".venv" / "bin" / "python"), "-c", CEILING, str(count)],
            cwd=self.folder, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(result.stdout.strip().splitlines()[-1])


def in_parallel(clients: int, items: list, work: Callable[[object], tuple[bool, float, str]]):
    """Run ``work(item)`` for every item with ``clients`` threads; returns (results, seconds),
    results as (ok, seconds, detail) in no particular order."""
    queue = list(reversed(items))
    lock = threading.Lock()
    results: list[tuple[bool, float, str]] = []

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            begin = time.monotonic()
            try:
                ok, detail = work(item)
            except requests.RequestException as error:
                ok, detail = False, f"{error.__class__.__name__}: {error}"
            with lock:
                results.append((ok, time.monotonic() - begin, detail))

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def register(url: str, form_path: str, person: str) -> tuple[bool, str]:
    """One person fills in the registration form: GET it, POST it with its CSRF token."""
    browser = requests.Session()
    page = browser.get(url + form_path, timeout=60)
    token = CSRF.search(page.text)
    if page.status_code != 200 or token is None:
        return False, f"form: {page.status_code}"
    answer = browser.post(
        url + form_path,
        data={
            "csrfmiddlewaretoken": token.group(1),
            "first_name": "Burst",
            "last_name": person,
            "email": f"{person}@example.org",
            "phone": "",
            "role": "call_taker",
            "employer_name": "Burst County 911",
            "employer_city": "Denver",
            "employer_state": "CO",
            "work_email": f"{person}@psap.example.gov",
            "supervisor_name": "Sam Supervisor",
            "supervisor_email": "supervisor@psap.example.gov",
            "attest_employment": "on",
            "acknowledge_participation": "on",
            "accept_terms": "on",
            "accessibility_needs": "",
            "time_zone": "America/Denver",
        },
        headers={"Referer": url + form_path},
        allow_redirects=False,
        timeout=60,
    )
    ok = answer.status_code == 302 and answer.headers.get("Location", "").endswith("/registered/")
    return ok, f"{answer.status_code} {answer.headers.get('Location', '')}"


def request_link(url: str, person: str) -> tuple[bool, str]:
    """One person asks for their manage link again (GET the form, POST the address)."""
    browser = requests.Session()
    page = browser.get(url + "/r/link/", timeout=60)
    token = CSRF.search(page.text)
    if page.status_code != 200 or token is None:
        return False, f"form: {page.status_code}"
    answer = browser.post(
        url + "/r/link/",
        data={"csrfmiddlewaretoken": token.group(1), "email": f"{person}@example.org"},
        headers={"Referer": url + "/r/link/"},
        allow_redirects=False,
        timeout=60,
    )
    return answer.status_code == 200, str(answer.status_code)


def summary(name: str, results: list[tuple[bool, float, str]], seconds: float) -> dict:
    """Counts, rate and latency of one phase."""
    failures = [detail for ok, _, detail in results if not ok]
    latencies = [spent for _, spent, _ in results]
    return {
        "name": name,
        "ok": len(results) - len(failures),
        "total": len(results),
        "failures": Counter(failures).most_common(3),
        "rate": len(results) / seconds if seconds else 0.0,
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
    }


def mail_ids(folder: Path) -> Counter:
    """How many times each Message-ID appears in the file mail backend's output."""
    found: Counter = Counter()
    for path in folder.glob("*.log") if folder.exists() else []:
        for match in re.finditer(r"^Message-ID: (\S+)", path.read_text(errors="replace"), re.M):
            found[match.group(1)] += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--link-requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--broker", choices=["auto", "filesystem"], default="auto")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for mail")
    parser.add_argument(
        "--kill-worker", action="store_true",
        help="kill -9 the worker halfway through the link requests (it must come back)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for the run, e.g. --set CELERY_VISIBILITY_TIMEOUT_SECONDS=30",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="citreg-default-run-"))
    run = Run(folder, args.broker)
    run.env.update(dict(item.split("=", 1) for item in args.set))
    killed = ""
    try:
        run.start(timeout=600)
        broker_line = next(
            (line for line in run.output().splitlines() if line.startswith("Broker:")), "?"
        )
        form_path = None
        for course in COURSE_LINK.findall(requests.get(run.url + "/", timeout=30).text):
            form_path = REGISTER_LINK.search(requests.get(run.url + course, timeout=30).text)
            if form_path:
                break
        if form_path is None:
            raise RuntimeError("no open class on the course pages")
        tag = uuid.uuid4().hex[:6]
        people = [f"burst-{tag}-{number}" for number in range(args.registrations)]

        ceiling_results, ceiling_seconds = in_parallel(
            args.clients, list(range(100)),
            lambda _: (requests.get(run.url + "/healthz", timeout=30).status_code == 200, ""),
        )  # fmt: skip
        web_ceiling = len(ceiling_results) / ceiling_seconds
        first_post = time.time()
        registered = summary(
            "registrations",
            *in_parallel(args.clients, people, lambda p: register(run.url, form_path.group(1), p)),
        )
        asked = people[: args.link_requests]
        middle = len(asked) // 2
        halves = [asked[:middle], asked[middle:]] if args.kill_worker else [asked]
        results: list[tuple[bool, float, str]] = []
        seconds = 0.0
        for number, half in enumerate(halves):
            if number == 1:
                killed = kill_worker(run)
            done, spent = in_parallel(args.clients, half, lambda p: request_link(run.url, p))
            results += done
            seconds += spent
        links = summary("link requests", results, seconds)
        last_post = time.time()
        expected = registered["ok"] + links["ok"]
        deadline = time.monotonic() + args.timeout
        with run.database() as database:
            query = (
                "SELECT status, COUNT(*) FROM registrations_outboundemail "
                "WHERE to_email LIKE ? GROUP BY status"
            )
            while True:
                statuses = dict(database.execute(query, [f"burst-{tag}-%"]).fetchall())
                if statuses.get("sent", 0) >= expected or time.monotonic() > deadline:
                    break
                time.sleep(1)
            in_database = database.execute(
                "SELECT COUNT(*) FROM registrations_registration WHERE email LIKE ?",
                [f"burst-{tag}-%"],
            ).fetchone()[0]
            rows = database.execute(
                "SELECT provider_message_id, "
                "(julianday(sent_at) - julianday(created_at)) * 86400, sent_at "
                "FROM registrations_outboundemail WHERE to_email LIKE ? AND status = 'sent'",
                [f"burst-{tag}-%"],
            ).fetchall()
        healthy_after = run.healthy()
        email_ceiling = run.ceiling(100)
    finally:
        run.stop()
    output = run.output()
    deaths = [line for line in output.splitlines() if DEATH.search(line)]
    files = mail_ids(run.mail)
    sent_ids = [row[0] for row in rows]
    in_files = sum(1 for pk in sent_ids if files.get(pk) == 1)
    twice = sum(1 for pk in sent_ids if files.get(pk, 0) > 1)
    latencies = [row[1] for row in rows]
    last_sent = max((_seconds(row[2]) for row in rows), default=last_post)
    queue_rate = expected / (last_post - first_post)
    email_rate = len(rows) / (last_sent - first_post) if last_sent > first_post else 0.0

    settings = f" with {', '.join(args.set)}" if args.set else ""
    print(f"make run in a fresh copy{settings}, {args.clients} clients back to back; {broker_line}")
    for phase in (registered, links):
        print(
            f"{phase['name']}: {phase['ok']}/{phase['total']} answered as expected"
            f"{' — failures ' + str(phase['failures']) if phase['failures'] else ''}; "
            f"{phase['rate']:.1f}/s = {phase['rate'] / web_ceiling:.2f} × ceiling "
            f"(GET /healthz {web_ceiling:.1f}/s, same clients); per person p50 "
            f"{phase['p50'] * 1000:.0f} ms, p95 {phase['p95'] * 1000:.0f} ms"
        )
    print(f"registrations in the database: {in_database}/{registered['ok']}")
    print(
        f"emails: {statuses.get('sent', 0)}/{expected} sent ({statuses}), {in_files} in the mail "
        f"files exactly once, {twice} more than once; queued→sent p50 "
        f"{percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, max "
        f"{max(latencies, default=0):.2f} s; the last one {last_sent - last_post:.1f} s after the "
        f"last POST"
    )
    print(
        f"email throughput: {email_rate:.1f}/s sent while the web queued {queue_rate:.1f}/s "
        f"({email_rate / queue_rate:.2f} × the rate queued); ceiling, in-process sending "
        f"without broker: {email_ceiling:.1f}/s ({email_rate / email_ceiling:.2f} × ceiling)"
    )
    if killed:
        print(f"killed: {killed}")
    print(
        "processes: "
        + (f"{len(deaths)} death(s):\n  " + "\n  ".join(deaths) if deaths else "none died")
        + f"; /healthz after the burst: {'200' if healthy_after else 'DOWN'}"
    )
    missing = expected - statuses.get("sent", 0)
    # A worker killed with SIGKILL takes with it the tasks in its hands: one per pool process
    # (prefetch multiplier 1) and one being received. Emails come back through the sweeper;
    # a link request, a task with no row, does not.
    in_hands = 3 if args.kill_worker else 0
    broken = (
        registered["ok"] < registered["total"]
        or links["ok"] < links["total"]
        or in_database < registered["ok"]
        or missing > in_hands
        or in_files < len(sent_ids)
        or twice
        or len(deaths) != (1 if args.kill_worker else 0)
        or not healthy_after
    )
    if broken:
        print("SOMETHING WAS LOST OR DIED UNASKED (see above)")
    elif missing:
        print(f"lost {missing} email(s) whose task was in the killed worker's hands (at most 3)")
    else:
        print("NOTHING LOST")
    if args.keep:
        print(f"the copy and its log: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if broken else 0


def kill_worker(run: Run) -> str:
    """``kill -9`` the worker's main process (as found in the run's output) and wait until
    ``keep_running`` has started a new one; returns what happened, in words."""
    pids = re.findall(r"worker (?:started|restarted) \(pid (\d+)\)", run.output())
    if not pids:
        raise RuntimeError("no worker pid in the run's output")
    os.kill(int(pids[-1]), signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: "worker restarted (pid" in run.output(), 60)
    wait_until(lambda: len(READY.findall(run.output())) >= 2, 120)
    return (
        f"worker (pid {pids[-1]}) with SIGKILL halfway through the link requests; ready again "
        f"{time.monotonic() - killed_at:.1f} s later"
    )


def wait_until(predicate: Callable[[], object], timeout: float) -> None:
    """Poll ``predicate`` every 0.2 s; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s")
        time.sleep(0.2)


def _seconds(stamp: str) -> float:
    """A SQLite timestamp (UTC, as Django stores it) in unix seconds."""
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


if __name__ == "__main__":
    sys.exit(main())
