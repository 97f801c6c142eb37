"""A burst of outbox emails through each broker the default run could use: throughput, latency,
failures.

Usage::

    .venv/bin/python bench/broker_burst.py [--tasks 200] [--publishers 8] [--rounds 1] \\
        [--brokers filesystem,sqlalchemy,redis] [--redis redis://127.0.0.1:6379/10]

Each broker gets its own SQLite database (as ``make run`` has, migrated once and copied), a file
mail backend and one Celery worker started as ``Procfile.dev`` starts it (prefork, two processes)
but without beat, so that no sweeper hides a lost message. ``--publishers`` threads queue
``--tasks`` outbox emails back to back (``outbox.email_queue`` in its own transaction, then the
publish, as a web request does on commit), and the bench waits until every row is ``sent``, the
worker has died, or ``--timeout`` seconds have passed.

Prints, per broker and round: publish failures, rows sent of those queued, whether the worker
survived (and the first error it logged), the latency from queued to sent (p50, p95, max, in
seconds) and the throughput as a ratio to the ceiling measured in the same process just before
and just after (the better of the two): the same number of messages sent with
``outbox.email_send`` directly (no broker, no worker, one after another). A ratio near 1 means
the broker costs nothing (the worker has two processes, so it can exceed 1); the figures are
relative so that they compare across machines.

Brokers: ``filesystem`` (``citreg.filesystem_broker``, the default run's broker when no Redis
answers), ``sqlalchemy`` (kombu's ``sqla+sqlite://`` transport; needs SQLAlchemy, reported as not
measured when it is not installed), ``redis`` (the server at ``--redis``; its database is
emptied first, so give one nobody else uses).

First, without Celery: ``--race-messages`` messages published by 1 and by 8 threads while another
process takes them as fast as it can, through kombu's own filesystem transport and through
citreg's, counting the messages that could not be decoded (each one stops a Celery worker and is
lost): the race described in ``citreg/filesystem_broker.py``.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CELERY = REPO / ".venv" / "bin" / "celery"


def broker_env(broker: str, folder: Path, redis_url: str) -> dict[str, str] | str:
    """The environment that points citreg at ``broker``, or the reason it cannot be measured."""
    if broker == "filesystem":
        return {
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "CELERY_BROKER_FOLDER": str(folder / "broker"),
        }
    if broker == "sqlalchemy":
        try:
            import sqlalchemy  # noqa: F401 -- only to tell whether it is installed
        except ImportError:
            return "not measured: SQLAlchemy is not installed (kombu's sqla+ transport needs it)"
        return {"CELERY_BROKER_URL": f"sqla+sqlite:///{folder / 'broker.sqlite3'}"}
    if broker == "redis":
        import redis

        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=1).flushdb()
        except redis.RedisError as error:
            return f"not measured: no Redis at {redis_url} ({error.__class__.__name__})"
        return {"CELERY_BROKER_URL": redis_url}
    return f"unknown broker {broker!r}"


def base_env(folder: Path, database: Path) -> dict[str, str]:
    """The default run's settings (``make run``), isolated in ``folder``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "citreg.settings.base",
        "DEBUG": "True",
        "STAFF_2FA_REQUIRED": "False",
        "DATABASE_URL": f"sqlite:///{database}",
        "EMAIL_URL": f"filemail://{folder / 'mail'}",
        "REDIS_URL": "",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
    }
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "DJANGO_READ_DOT_ENV_FILE"):
        env.pop(name, None)
    return env


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


# ------------------------------------------------------------------ the filesystem race (kombu)


def _race_consumer(options: dict, transport: str | None, count: int, results) -> None:
    """Take ``count`` messages as fast as possible; report (decoded, undecodable)."""
    from kombu import Connection

    decoded = undecodable = 0
    deadline = time.monotonic() + 120
    with Connection("filesystem://", transport=transport, transport_options=options) as conn:
        channel = conn.channel()
        while decoded + undecodable < count and time.monotonic() < deadline:
            try:
                message = channel.basic_get("race", no_ack=True)
            except ValueError:  # JSONDecodeError: an empty or half-written file
                undecodable += 1
                continue
            if message is None:
                time.sleep(0.001)
            else:
                decoded += 1
    results.put((decoded, undecodable))


def _race_publisher(options: dict, transport: str | None, count: int, threads: int) -> None:
    """Publish ``count`` messages from ``threads`` threads, each with its own connection."""
    from kombu import Connection, Exchange, Queue

    queue = Queue("race", Exchange("race", type="direct"), routing_key="race")
    body = {"task": "registrations.send_outbound_email", "args": [1], "pad": "x" * 1500}

    def publish() -> None:
        with Connection("filesystem://", transport=transport, transport_options=options) as conn:
            producer = conn.Producer()
            for _ in range(count // threads):
                producer.publish(body, exchange=queue.exchange, routing_key="race", declare=[queue])

    workers = [threading.Thread(target=publish) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def race(folder: Path, transport: str | None, count: int, threads: int) -> tuple[int, int]:
    """Publish ``count`` messages from ``threads`` threads of one process while another process
    consumes; returns (decoded, undecodable). Both are fresh processes: kombu keeps the
    filesystem broker's bindings in memory per process."""
    for name in ("queue", "incoming", "processed", "control"):
        (folder / name).mkdir(parents=True)
    options = {
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "incoming_folder": str(folder / "incoming"), "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"), "store_processed": False,
    }  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    consumer = spawn.Process(target=_race_consumer, args=(options, transport, count, results))
    consumer.start()
    publisher = spawn.Process(target=_race_publisher, args=(options, transport, count, threads))
    publisher.start()
    publisher.join()
    consumer.join(150)
    return results.get(timeout=5)


# ------------------------------------------------------------------ one broker (child process)


def run_one(tasks: int, publishers: int, timeout: float, pause: float) -> dict:
    """In a child process whose environment names the broker: measure the ceiling, start a
    worker, publish the burst, wait, and return the figures as a dict."""
    sys.path.insert(0, str(REPO))
    import django  # set up only once the environment is final

    django.setup()
    from django.db import connection, transaction

    from registrations.messaging import outbox
    from registrations.messaging.models import OutboundEmail

    def queue(key: str) -> int:
        with transaction.atomic():
            return outbox.email_queue(
                kind="test", to_email="bench@example.org", template="emails/test",
                dedupe_key=key, context={"queued_at": "now"}, publish=False,
            ).email.pk  # fmt: skip

    def measure_ceiling(label: str) -> float:
        """The same work with no broker and no worker: messages per second."""
        ids = [queue(f"ceiling:{label}:{number}") for number in range(tasks)]
        started = time.monotonic()
        for pk in ids:
            outbox.email_send(pk)
        return tasks / (time.monotonic() - started)

    ceiling = measure_ceiling("before")

    worker = subprocess.Popen(  # noqa: S603 -- our own virtualenv's celery
        [str(CELERY), "-A", "citreg", "worker", "--concurrency", "2", "--loglevel", "WARNING"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(worker.stderr), daemon=True)
    reader.start()
    try:
        warm = queue("warm-up")
        outbox.enqueue_send(warm)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if OutboundEmail.objects.filter(pk=warm, status="sent").exists():
                break
            time.sleep(0.1)
        else:
            return {"error": "the worker did not start", "worker_log": "".join(errors)[-2000:]}

        numbers = iter(range(tasks))
        lock = threading.Lock()
        failures: list[str] = []
        publish_seconds: list[float] = []

        def publisher() -> None:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    break
                begin = time.monotonic()
                try:
                    pk = queue(f"burst:{number}")
                    if not outbox.enqueue_send(pk):
                        failures.append(f"publish of row {pk} failed")
                except Exception as error:  # noqa: BLE001 -- counted as a failure
                    failures.append(f"{error.__class__.__name__}: {error}")
                with lock:
                    publish_seconds.append(time.monotonic() - begin)
                time.sleep(pause)
            connection.close()

        burst_started = time.monotonic()
        threads = [threading.Thread(target=publisher) for _ in range(publishers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        published = time.monotonic()
        burst = OutboundEmail.objects.filter(dedupe_key__startswith="burst:")
        deadline = published + timeout
        while time.monotonic() < deadline and worker.poll() is None:
            if burst.filter(status="sent").count() == tasks:
                break
            time.sleep(0.1)
        finished = time.monotonic()
        sent = list(burst.filter(status="sent").values_list("created_at", "sent_at"))
        latencies = [(sent_at - created).total_seconds() for created, sent_at in sent]
        survived = worker.poll() is None
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        reader.join(5)
    ceiling = max(ceiling, measure_ceiling("after"))  # the best this machine did, around it
    last_sent = max((sent_at for _, sent_at in sent), default=None)
    first = burst.order_by("created_at").values_list("created_at", flat=True).first()
    wall = (last_sent - first).total_seconds() if sent and first else finished - burst_started
    log = "".join(errors)
    error_lines = [
        line.strip() for line in log.splitlines() if "Error" in line and "Traceback" not in line
    ]
    return {
        "queued": burst.count(),
        "sent": len(sent),
        "by_status": {
            status: burst.filter(status=status).count()
            for status in ("queued", "sending", "sent", "failed")
        },
        "publish_failures": len(failures),
        "first_failure": failures[0] if failures else "",
        "publish_p95": percentile(publish_seconds, 0.95),
        "worker_survived": survived,
        "worker_exit": worker.returncode,
        "first_error": error_lines[0][:300] if error_lines else "",
        "latency_p50": percentile(latencies, 0.5),
        "latency_p95": percentile(latencies, 0.95),
        "latency_max": max(latencies, default=0.0),
        "throughput": len(sent) / wall if wall > 0 else 0.0,
        "ceiling": ceiling,
    }


# ------------------------------------------------------------------ parent


def migrated_template(folder: Path) -> Path:
    """A migrated SQLite database to copy for each broker (migrating takes a while)."""
    database = folder / "template.sqlite3"
    env = base_env(folder, database)
    subprocess.run(  # noqa: S603 -- our own manage.py
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=REPO, env=env, check=True,
    )  # fmt: skip
    return database


def report(broker: str, round_number: int, result: dict) -> str:
    """One line of figures for one broker and round."""
    if "error" in result:
        log = result.get("worker_log", "")
        return f"{broker:<11} round {round_number}: {result['error']} {log}"
    worker = "survived" if result["worker_survived"] else f"DIED (exit {result['worker_exit']})"
    lost = result["queued"] - result["sent"]
    text = (
        f"{broker:<11} round {round_number}: sent {result['sent']}/{result['queued']}"
        f" (not sent {lost}: {result['by_status']}), publish failures "
        f"{result['publish_failures']}, worker {worker}; queued→sent p50 "
        f"{result['latency_p50']:.2f} s, p95 {result['latency_p95']:.2f} s, max "
        f"{result['latency_max']:.2f} s; throughput {result['throughput']:.1f}/s = "
        f"{result['throughput'] / result['ceiling']:.2f} × ceiling ({result['ceiling']:.1f}/s "
        f"sent in-process without broker); publish p95 {result['publish_p95'] * 1000:.0f} ms"
    )
    if result["first_error"]:
        text += f"\n{'':<11} worker error: {result['first_error']}"
    if result["first_failure"]:
        text += f"\n{'':<11} publish error: {result['first_failure']}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument(
        "--pause", type=float, default=0.0,
        help="seconds each publisher waits after a publish (0: back to back)",
    )  # fmt: skip
    parser.add_argument("--brokers", default="filesystem,sqlalchemy,redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--race-messages", type=int, default=2000, help="0 to skip the race")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run in a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.tasks, args.publishers, args.timeout, args.pause)))
        return
    with tempfile.TemporaryDirectory(prefix="citreg-broker-bench-") as name:
        root = Path(name)
        sys.path.insert(0, str(REPO))
        os.environ.setdefault("DEBUG", "True")  # importing citreg's transport imports citreg
        for label, transport in (
            ("kombu's filesystem transport", None),
            ("citreg.filesystem_broker", "citreg.filesystem_broker:Transport"),
        ):
            for threads in (1, 8) if args.race_messages else ():
                folder = root / f"race-{threads}-{transport is None}"
                decoded, undecodable = race(folder, transport, args.race_messages, threads)
                lost = args.race_messages - decoded
                print(
                    f"race, {label}, {threads} publishing thread(s): {decoded}/"
                    f"{args.race_messages} decoded, {undecodable} undecodable, lost "
                    f"{lost} = {lost / args.race_messages:.3f} of those published",
                    flush=True,
                )
        template = migrated_template(root)
        print(
            f"{args.tasks} outbox emails from {args.publishers} threads, back to back; SQLite, "
            "one worker (prefork, 2 processes), file mail backend"
        )
        for round_number in range(1, args.rounds + 1):
            for broker in args.brokers.split(","):
                folder = root / f"{broker}-{round_number}"
                folder.mkdir()
                database = folder / "db.sqlite3"
                shutil.copy(template, database)
                chosen = broker_env(broker, folder, args.redis)
                if isinstance(chosen, str):
                    print(f"{broker:<11} round {round_number}: {chosen}")
                    continue
                child = subprocess.run(  # noqa: S603 -- this script
                    [sys.executable, __file__, "--one", broker, "--tasks", str(args.tasks),
                     "--publishers", str(args.publishers), "--timeout", str(args.timeout),
                     "--pause", str(args.pause)],
                    cwd=REPO, env={**base_env(folder, database), **chosen},
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                lines = child.stdout.strip().splitlines()
                try:
                    result = json.loads(lines[-1])
                except (IndexError, json.JSONDecodeError):
                    result = {"error": f"the bench failed: {child.stderr.strip()[-1500:]}"}
                print(report(broker, round_number, result), flush=True)


if __name__ == "__main__":
    main()
