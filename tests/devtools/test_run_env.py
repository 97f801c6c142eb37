"""``devtools.run_env``: what ``make run`` starts with — ports, the broker, Stripe — and that what
the user set always wins. No database; one PING to the Redis the tests use."""

import os
import socket
import stat
from urllib.parse import urlsplit

import pytest

from devtools import run_env


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe is


@pytest.fixture
def redis_address() -> tuple[str, str]:
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15")
    if not run_env.redis_answers(url.hostname or "127.0.0.1", url.port or 6379):
        pytest.fail(f"the tests' Redis ({url.geturl()}) does not answer")
    return url.hostname or "127.0.0.1", str(url.port or 6379)


def test_a_running_redis_becomes_the_broker_under_this_checkouts_prefix(tmp_path, redis_address):
    host, port = redis_address

    values, message = run_env.choose_broker(
        {"RUN_REDIS_HOST": host, "RUN_REDIS_PORT": port}, tmp_path
    )

    assert values == {
        "CELERY_BROKER_URL": f"redis://{host}:{port}/0",
        "CELERY_BROKER_KEY_PREFIX": run_env.key_prefix(tmp_path),
    }
    assert message.startswith(f"Broker: the Redis server running at {host}:{port}")
    assert run_env.key_prefix(tmp_path) != run_env.key_prefix(tmp_path / "other-checkout")
    assert run_env.key_prefix(tmp_path).startswith("citreg-run-")


def test_without_redis_the_run_falls_back_to_the_filesystem_broker(tmp_path):
    values, message = run_env.choose_broker({"RUN_REDIS_PORT": str(closed_port())}, tmp_path)

    assert values == {}  # the settings' default: filesystem://
    assert message.startswith("Broker: the filesystem broker in var/broker (no Redis answered")


@pytest.mark.parametrize(
    ("name", "said"),
    [("CELERY_BROKER_URL", "CELERY_BROKER_URL as configured"), ("REDIS_URL", "REDIS_URL")],
)
def test_a_configured_broker_is_left_alone(tmp_path, redis_address, name, said):
    host, port = redis_address
    settings = {name: "redis://elsewhere:6379/3", "RUN_REDIS_HOST": host, "RUN_REDIS_PORT": port}

    values, message = run_env.choose_broker(settings, tmp_path)

    assert values == {}
    assert said in message


def test_ports_move_the_site_url_and_the_standins_addresses(tmp_path):
    settings = {
        "CITREG_PORT": "8123",
        "STRIPE_STANDIN_PORT": "12999",
        "RUN_REDIS_PORT": str(closed_port()),
    }

    values, messages, standin = run_env.run_values(settings, tmp_path)

    assert standin
    assert values == {
        "SITE_URL": "http://127.0.0.1:8123",
        "STRIPE_API_BASE": "http://127.0.0.1:12999",
        "STRIPE_WEBHOOK_URL": "http://127.0.0.1:8123/payments/stripe/webhook/",
        "STRIPE_STANDIN_STATE_FILE": str(tmp_path / "var" / "stripe-standin-state.json"),
    }  # CITREG_PORT and STRIPE_STANDIN_PORT were set by the user: not repeated
    assert any("stand-in at http://127.0.0.1:12999" in message for message in messages)


def test_what_the_user_set_wins_and_real_stripe_starts_no_standin(tmp_path):
    settings = {
        "SITE_URL": "https://citreg.example.org",
        "STRIPE_SECRET_KEY": "sk_test_mine",
        "RUN_REDIS_PORT": str(closed_port()),
    }

    values, messages, standin = run_env.run_values(settings, tmp_path)

    assert not standin
    assert values == {"CITREG_PORT": "8000"}
    assert "talks to Stripe itself" in messages[-1]


def test_the_standins_secrets_are_made_once_and_an_old_file_keeps_only_them(tmp_path):
    path = tmp_path / "var" / "stripe-standin.env"

    first, generated = run_env.standin_secrets(path)
    again, generated_again = run_env.standin_secrets(path)

    assert generated and not generated_again and first == again
    assert first["STRIPE_SECRET_KEY"].startswith("sk_test_standin_")
    assert first["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    path.write_text(
        "STRIPE_SECRET_KEY=sk_test_old\nSTRIPE_WEBHOOK_SECRET=whsec_old\n"
        "STRIPE_API_BASE=http://127.0.0.1:12111\nSTRIPE_WEBHOOK_URL=http://127.0.0.1:8000/x/\n"
    )
    kept, generated = run_env.standin_secrets(path)
    assert not generated
    assert kept == {"STRIPE_SECRET_KEY": "sk_test_old", "STRIPE_WEBHOOK_SECRET": "whsec_old"}
    assert "STRIPE_API_BASE" not in path.read_text()


def test_main_writes_run_env_under_dot_env_and_prints_honchos_arguments(tmp_path, capsys):
    (tmp_path / ".env").write_text("SITE_URL=http://citreg.test\nEMAIL_URL=consolemail://\n")
    environment = {"CITREG_PORT": "8050", "RUN_REDIS_PORT": str(closed_port())}

    arguments = run_env.main(tmp_path, environment)

    assert arguments == "--env .env,var/stripe-standin.env,var/run.env start"
    run_file = (tmp_path / "var" / "run.env").read_text()
    assert "STRIPE_WEBHOOK_URL=http://127.0.0.1:8050/payments/stripe/webhook/" in run_file
    assert "SITE_URL" not in run_file  # .env has it
    assert (tmp_path / "var" / "stripe-standin.env").exists()
    said = capsys.readouterr().err
    assert "Broker: the filesystem broker" in said
    assert "generated a test key" in said

    (tmp_path / ".env").write_text("STRIPE_SECRET_KEY=sk_test_real\n")
    assert run_env.main(tmp_path, environment) == "--env .env,var/run.env start web worker"
