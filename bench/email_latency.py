"""How long a queued message takes to be sent in the default run: SQLite, kombu's filesystem
broker and one Celery worker process, as ``make run`` starts them.

Usage::

    .venv/bin/python bench/email_latency.py [--messages 20]

Queues messages one at a time (``manage.py send_test_email`` logic, in this process) and prints
the median and worst time from the row's creation to ``sent_at``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "citreg.settings.base",
            "DEBUG": os.environ.get("DEBUG", "True"),  # the development key needs DEBUG on
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "EMAIL_URL": f"filemail://{folder}/mail",
            "REDIS_URL": "",
        }
        env.pop("CELERY_BROKER_URL", None)
        os.environ.update(env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.CELERY_BROKER_TRANSPORT_OPTIONS.update(
            {key: f"{folder}/broker/{Path(value).name}"
             for key, value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items()
             if key.endswith("folder") or key.startswith("data_folder")}
        )  # fmt: skip
        for value in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
            if isinstance(value, str) and value.startswith(folder):
                Path(value).mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0)
        worker_env = {**env, "CITREG_BENCH_BROKER": folder}
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", WORKER, folder],
            cwd=REPO, env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(4)  # worker start-up
            from registrations.messaging.models import OutboundEmail
            from registrations.messaging.outbox import email_queue

            latencies = []
            for number in range(args.messages):
                email = email_queue(kind="test", to_email="bench@example.org",
                                    template="emails/test", dedupe_key=f"bench:{number}",
                                    context={"queued_at": "now"}).email  # fmt: skip
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    email.refresh_from_db()
                    if email.status == OutboundEmail.Status.SENT:
                        break
                    time.sleep(0.02)
                latencies.append((email.sent_at - email.created_at).total_seconds())
            print(
                f"{len(latencies)} messages, filesystem broker + SQLite + 1 worker: "
                f"median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s "
                "from queued to sent"
            )
        finally:
            worker.terminate()
            worker.wait(10)


# The worker uses the same temporary broker folders as the benchmark.
WORKER = """
import sys
from pathlib import Path
folder = sys.argv[1]
import django
django.setup()
from django.conf import settings
options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
for key, value in list(options.items()):
    if key.endswith("folder") or key.startswith("data_folder"):
        options[key] = f"{folder}/broker/{Path(value).name}"
from citreg.celery_app import app
app.conf.broker_transport_options = options
app.worker_main(["worker", "--pool", "solo", "--loglevel", "WARNING"])
"""


if __name__ == "__main__":
    main()
