"""How ``make run`` is wired: ports, the broker and Stripe; prints the honcho arguments.

Usage (the Makefile's ``run`` target)::

    honcho_args=$(.venv/bin/python devtools/run_env.py) &&
        honcho --procfile Procfile.dev $honcho_args

Values set in the environment or in ``.env`` always win; this only fills in the rest, into
``var/run.env`` (written afresh on every run, git-ignored), which honcho passes last to every
process. Messages go to stderr, one line per choice.

- **Ports.** The web server listens on ``CITREG_PORT`` (default 8000) and the Stripe stand-in on
  ``STRIPE_STANDIN_PORT`` (default 12111); ``SITE_URL`` and the stand-in's webhook URL follow.
- **Broker.** ``CELERY_BROKER_URL`` or ``REDIS_URL`` when set. Otherwise a Redis server that
  answers on 127.0.0.1:6379 (``RUN_REDIS_HOST``/``RUN_REDIS_PORT`` to look elsewhere), with every
  key under a prefix of this checkout (``CELERY_BROKER_KEY_PREFIX``), so two checkouts or other
  programs on the same Redis never share a queue. Without one, kombu's filesystem broker in
  ``var/broker`` (the settings' default). The choice and its measurement: docs/architecture.md,
  "The default run".
- **Stripe.** ``STRIPE_SECRET_KEY`` set: real Stripe, and only the ``web`` and ``worker``
  processes start. Otherwise the local stand-in (``devtools/stripe_standin``): a test secret key
  and webhook signing secret are generated once into ``var/stripe-standin.env`` (kept between
  runs), and the stand-in keeps its objects in ``var/stripe-standin-state.json``
  (``STRIPE_STANDIN_STATE_FILE``) across restarts.
"""

import hashlib
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

import redis
from honcho import environ as honcho_environ
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent
STANDIN_ENV = "var/stripe-standin.env"  # the stand-in's two secrets, generated once
RUN_ENV = "var/run.env"  # written on every run
STATE_FILE = "var/stripe-standin-state.json"
STANDIN_SECRETS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")


def user_settings(environment: Mapping[str, str], dot_env: Path) -> dict[str, str]:
    """What the processes will see of the user's settings: the environment, and ``.env`` over
    it (honcho passes ``.env`` to every process; its parser reads it here)."""
    merged = dict(environment)
    if dot_env.exists():
        merged.update(honcho_environ.parse(dot_env.read_text()))
    return merged


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server at ``host:port`` answers PING within ``timeout`` seconds."""
    try:
        return bool(
            redis.Redis(
                host=host,
                port=port,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 0),  # one try: a missing server answers at once
            ).ping()
        )
    except (redis.RedisError, OSError):
        return False


def key_prefix(root: Path) -> str:
    """The Redis key prefix of the checkout at ``root``, e.g. ``citreg-run-1a2b3c4d:`` (from
    its path, so two checkouts on one Redis never share a queue)."""
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()  # noqa: S324 -- a name
    return f"citreg-run-{digest[:8]}:"


def choose_broker(settings: Mapping[str, str], root: Path) -> tuple[dict[str, str], str]:
    """The broker values to add for the checkout at ``root``, and a sentence saying which
    broker the run uses."""
    if settings.get("CELERY_BROKER_URL"):
        return {}, "Broker: CELERY_BROKER_URL as configured."
    if settings.get("REDIS_URL"):
        return {}, "Broker: Redis at REDIS_URL as configured (also the cache)."
    host = settings.get("RUN_REDIS_HOST") or "127.0.0.1"
    port = int(settings.get("RUN_REDIS_PORT") or "6379")
    if redis_answers(host, port):
        prefix = key_prefix(root)
        return (
            {"CELERY_BROKER_URL": f"redis://{host}:{port}/0", "CELERY_BROKER_KEY_PREFIX": prefix},
            f"Broker: the Redis server running at {host}:{port} (keys under {prefix}); set "
            "CELERY_BROKER_URL to choose another.",
        )
    return (
        {},
        f"Broker: the filesystem broker in var/broker (no Redis answered on {host}:{port}; "
        "with one, the run uses it).",
    )


def standin_secrets(path: Path) -> tuple[dict[str, str], bool]:
    """The stand-in's key and webhook secret, generated into ``path`` on first use; returns
    them and whether they were generated now.

    A file written by an older version also held ports and URLs; those now follow the
    environment on each run, so the file is rewritten with the two secrets only.
    """
    found = honcho_environ.parse(path.read_text()) if path.exists() else {}
    kept = {name: found[name] for name in STANDIN_SECRETS if found.get(name)}
    if kept == found and len(kept) == len(STANDIN_SECRETS):
        return kept, False
    kept.setdefault("STRIPE_SECRET_KEY", f"sk_test_standin_{secrets.token_hex(16)}")
    kept.setdefault("STRIPE_WEBHOOK_SECRET", f"whsec_{secrets.token_hex(16)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(
        path,
        "# Generated by devtools/run_env.py for `make run` with the local Stripe stand-in.\n"
        "# Test-mode values for this machine only; delete this file to get new ones.\n"
        + "".join(f"{name}={kept[name]}\n" for name in STANDIN_SECRETS),
    )
    return kept, not found


def run_values(settings: Mapping[str, str], root: Path) -> tuple[dict[str, str], list[str], bool]:
    """Everything ``var/run.env`` gets, the messages to print, and whether the stand-in runs.

    Only names absent from ``settings`` (the environment plus ``.env``) are returned: what the
    user set always wins.
    """
    port = settings.get("CITREG_PORT") or "8000"
    values: dict[str, str] = {"CITREG_PORT": port, "SITE_URL": f"http://127.0.0.1:{port}"}
    broker, broker_message = choose_broker(settings, root)
    values.update(broker)
    messages = [broker_message]
    standin = not settings.get("STRIPE_SECRET_KEY")
    if standin:
        standin_port = settings.get("STRIPE_STANDIN_PORT") or "12111"
        values.update(
            STRIPE_STANDIN_PORT=standin_port,
            STRIPE_API_BASE=f"http://127.0.0.1:{standin_port}",
            STRIPE_WEBHOOK_URL=f"http://127.0.0.1:{port}/payments/stripe/webhook/",
            STRIPE_STANDIN_STATE_FILE=str(root / STATE_FILE),
        )
        messages.append(
            f"Stripe: local stand-in at http://127.0.0.1:{standin_port} (keys in {STANDIN_ENV}, "
            f"payments kept in {STATE_FILE})"
        )
    else:
        messages.append("Stripe: STRIPE_SECRET_KEY is set, so the app talks to Stripe itself.")
    return {k: v for k, v in values.items() if not settings.get(k)}, messages, standin


def main(root: Path = ROOT, environment: Mapping[str, str] = os.environ) -> str:
    """Write ``var/run.env`` (and the stand-in's secrets) under ``root``, say what was chosen,
    and return the honcho arguments (``--env … start [web worker]``)."""
    settings = user_settings(environment, root / ".env")
    values, messages, standin = run_values(settings, root)
    if standin and standin_secrets(root / STANDIN_ENV)[1]:
        messages.append(f"Stripe: generated a test key and webhook secret in {STANDIN_ENV}")
    _write_private(
        root / RUN_ENV,
        "# Written by devtools/run_env.py on every `make run`; set your own values in .env.\n"
        + "".join(f"{name}={value}\n" for name, value in values.items()),
    )
    for message in messages:
        print(message, file=sys.stderr, flush=True)
    env_files = [".env", STANDIN_ENV, RUN_ENV] if standin else [".env", RUN_ENV]
    return f"--env {','.join(env_files)} start" + ("" if standin else " web worker")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(scratch, path)


if __name__ == "__main__":
    print(main())
