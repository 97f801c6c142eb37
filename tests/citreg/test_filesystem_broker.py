"""``citreg.filesystem_broker``: whole messages only, each taken once, a bad file set aside, and a
burst through a real worker on it with nothing lost.

The transport is driven through kombu in temporary folders; the last test runs a Celery worker
process on it against the test database and an SMTP server on loopback.
"""

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from registrations.messaging.models import OutboundEmail
from tests.services import (
    REPO,
    ScriptedSMTPHandler,
    celery_worker,
    smtp_server,
    subprocess_env,
    wait_for,
)

TRANSPORT = "citreg.filesystem_broker:Transport"
QUEUE = Queue("burst", Exchange("burst", type="direct"), routing_key="burst")


@pytest.fixture
def options(tmp_path: Path) -> dict[str, object]:
    folders = {
        "data_folder_in": tmp_path / "queue",
        "data_folder_out": tmp_path / "queue",
        "incoming_folder": tmp_path / "incoming",
        "processed_folder": tmp_path / "processed",
        "control_folder": tmp_path / "control",
    }
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    return {key: str(value) for key, value in folders.items()} | {"store_processed": False}


def connect(options: dict[str, object]) -> Connection:
    return Connection("filesystem://", transport=TRANSPORT, transport_options=options)


def publish(options: dict[str, object], bodies: list[dict]) -> None:
    with connect(options) as connection:
        producer = connection.Producer()
        for body in bodies:
            producer.publish(body, exchange=QUEUE.exchange, routing_key="burst", declare=[QUEUE])


def take_all(options: dict[str, object], count: int, timeout: float = 60) -> list[dict]:
    """Take messages as fast as possible until ``count`` arrived (or fail on ``timeout``)."""
    taken: list[dict] = []
    deadline = time.monotonic() + timeout
    with connect(options) as connection:
        channel = connection.channel()
        while len(taken) < count:
            assert time.monotonic() < deadline, f"only {len(taken)} of {count} arrived"
            message = channel.basic_get("burst", no_ack=True)
            if message is None:
                time.sleep(0.001)
            else:
                taken.append(json.loads(message.body))
    return taken


def test_a_message_is_written_whole_into_the_queue_and_nothing_stays_in_incoming(options):
    publish(options, [{"n": 1, "text": "Zoë ☕"}])

    [name] = os.listdir(options["data_folder_in"])
    assert name.endswith(".burst.msg")
    stored = json.loads(Path(options["data_folder_in"], name).read_text())  # whole JSON
    assert stored["properties"]["delivery_info"]["routing_key"] == "burst"
    assert os.listdir(options["incoming_folder"]) == []
    assert os.listdir(options["control_folder"]) == []  # bindings stay in memory
    assert take_all(options, 1) == [{"n": 1, "text": "Zoë ☕"}]


def test_messages_published_from_threads_while_a_consumer_takes_them_all_arrive_once(options):
    count, threads = 1200, 6
    bodies = [{"n": n, "pad": "x" * 1500} for n in range(count)]
    received: list[dict] = []
    consumer = threading.Thread(target=lambda: received.extend(take_all(options, count)))
    consumer.start()
    publishers = [
        threading.Thread(target=publish, args=(options, bodies[part::threads]))
        for part in range(threads)
    ]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()
    consumer.join(90)

    assert sorted(body["n"] for body in received) == list(range(count))
    assert os.listdir(options["processed_folder"]) == []  # nothing unreadable, nothing kept


def test_two_consumers_never_take_the_same_message(options):
    count = 400
    publish(options, [{"n": n} for n in range(count)])
    halves: list[list[dict]] = [[], []]
    lock = threading.Lock()

    def consume(half: list[dict]) -> None:
        with connect(options) as connection:
            channel = connection.channel()
            while True:
                with lock:
                    if len(halves[0]) + len(halves[1]) >= count:
                        return
                message = channel.basic_get("burst", no_ack=True)
                if message is None:
                    if not os.listdir(options["data_folder_in"]):
                        return
                    continue
                with lock:
                    half.append(json.loads(message.body))

    consumers = [threading.Thread(target=consume, args=(half,)) for half in halves]
    for thread in consumers:
        thread.start()
    for thread in consumers:
        thread.join(60)

    taken = [body["n"] for half in halves for body in half]
    assert sorted(taken) == list(range(count))  # every message, none twice


def test_an_unreadable_file_is_set_aside_and_logged_and_the_next_message_arrives(options, caplog):
    bad = "1_00000000-0000-0000-0000-000000000000.burst.msg"  # sorts before any real message
    Path(options["data_folder_in"], bad).write_bytes(b"")
    publish(options, [{"n": 7}])

    with caplog.at_level(logging.ERROR, logger="citreg.filesystem_broker"):
        [body] = take_all(options, 1)

    assert body == {"n": 7}
    assert os.listdir(options["processed_folder"]) == [f"{bad}.unreadable"]
    assert "broker.unreadable_message queue=burst" in caplog.text


def test_messages_are_taken_in_publishing_order_when_the_clock_gains_a_digit(options):
    for stamp, n in ((1000, 2), (999, 1), (10000, 3)):
        Path(options["data_folder_in"], f"{stamp}_{uuid.uuid4()}.burst.msg").write_text(
            json.dumps({"body": json.dumps({"n": n}), "properties": {"delivery_tag": str(n)}})
        )
    assert [body["n"] for body in take_all(options, 3)] == [1, 2, 3]


QUEUE_EMAILS = """
import sys, threading
import django
django.setup()
from django.db import connection, transaction
from registrations.messaging import outbox
tag, count, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def queue(numbers):
    for number in numbers:
        with transaction.atomic():
            outbox.email_queue(kind="test", to_email=f"{tag}-{number}@example.org",
                template="emails/test", dedupe_key=f"{tag}:{number}", context={"queued_at": "now"})
    connection.close()
workers = [threading.Thread(target=queue, args=(range(part, count, threads),))
           for part in range(threads)]
[worker.start() for worker in workers]
[worker.join() for worker in workers]
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_a_burst_through_a_worker_on_the_filesystem_broker_loses_nothing(tmp_path):
    count, tag = 120, f"fs-{uuid.uuid4().hex[:8]}"
    handler = ScriptedSMTPHandler()
    with smtp_server(handler) as port:
        env = subprocess_env(
            CELERY_BROKER_URL="filesystem://localhost/",
            CELERY_BROKER_FOLDER=str(tmp_path / "broker"),
            CELERY_TASK_DEFAULT_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
            EMAIL_URL=f"smtp://127.0.0.1:{port}",
        )
        with celery_worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]) as worker:
            queued = subprocess.run(  # noqa: S603
                [sys.executable, "-c", QUEUE_EMAILS, tag, str(count), "6"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert queued.returncode == 0, queued.stderr
            rows = OutboundEmail.objects.filter(dedupe_key__startswith=f"{tag}:")
            wait_for(lambda: rows.filter(status=OutboundEmail.Status.SENT).count() == count, 90)
            assert worker.poll() is None  # the worker is still up

    assert rows.count() == count
    recipients = [str(message["To"]) for message in handler.messages]
    assert sorted(recipients) == sorted(f"{tag}-{n}@example.org" for n in range(count))
