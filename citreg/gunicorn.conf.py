"""gunicorn's configuration for citreg (README "Deployment"):
``gunicorn --config citreg/gunicorn.conf.py citreg.wsgi``.

gunicorn names itself in a ``Server: gunicorn`` header on every response and has no setting to stop
it (``docs/architecture.md``, "Security and privacy"): this file, which gunicorn runs in its master
process before it forks the workers, removes that header from the responses of its HTTP/1.x workers
(sync, gthread, the async ones). Behind the documented reverse proxy, which speaks HTTP/1.1 to
gunicorn, no response carries it. The bind address and the number of workers come from the
environment."""

import os

from gunicorn.http.wsgi import Response

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))

_gunicorn_default_headers = Response.default_headers


def _default_headers_without_server(self: Response) -> list[str]:
    """gunicorn's own status line and headers, less ``Server``."""
    return [
        line for line in _gunicorn_default_headers(self) if not line.lower().startswith("server:")
    ]


Response.default_headers = _default_headers_without_server  # type: ignore[method-assign]
