"""``citreg/gunicorn.conf.py``: the documented deployment's gunicorn sends no ``Server`` banner."""

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.services import free_port, subprocess_env, wait_for

GUNICORN = Path(sys.executable).parent / "gunicorn"


def headers_of(url: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return dict(response.headers)
    except urllib.error.HTTPError as error:  # a 404 has headers too
        return dict(error.headers)


@pytest.mark.django_db
@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_no_server_header_from_gunicorn_with_the_config(worker_class):
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [str(GUNICORN), "--config", "citreg/gunicorn.conf.py", "--worker-class", worker_class,
         "citreg.wsgi"],
        cwd=REPO,
        env=subprocess_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(lambda: _try(headers_of, f"{base}/healthz"), timeout=30)
        assert health, process.stderr.read().decode() if process.poll() is not None else ""
        missing = headers_of(f"{base}/no-such-page/")
        for headers in (health, missing):
            assert "Date" in headers  # gunicorn's own headers are still sent
            assert not {name.lower() for name in headers} & {"server"}
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_without_the_config_gunicorn_announces_itself():
    # What the config removes: gunicorn's Response writes "Server: gunicorn".
    from gunicorn.http.wsgi import Response

    class Request:
        version = (1, 1)

        def should_close(self):
            return False

    response = Response(Request(), None, None)
    response.status = "200 OK"
    response.status_code = 200
    response.response_length = 0
    assert "Server: gunicorn\r\n" in Response.default_headers(response)


def _try(function, *args):
    try:
        return function(*args)
    except OSError:
        return None
