"""HTTP routing of the stand-in: Stripe's API under ``/v1/``, the hosted checkout page under
``/c/pay/``, and the test controls under ``/_standin/``.

API requests are checked as Stripe checks them (https://docs.stripe.com/api/authentication,
/api/idempotent_requests, /api/versioning): the secret key in ``Authorization: Bearer`` (or as
the basic-auth user name, as ``curl -u sk_test_…:`` sends it), a reused ``Idempotency-Key``
replays the saved response or is refused when the request differs, and the ``Stripe-Version``
header is accepted and echoed.
"""

import base64
import binascii
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import page
from .config import DEFAULT_API_VERSION, Config
from .errors import StripeError, unknown
from .forms import FormError, decode_form
from .persist import StateFile
from .state import Clock, Store, new_id
from .webhooks import Dispatcher

Obj = dict[str, Any]
logger = logging.getLogger("stripe_standin")

MAX_IDEMPOTENCY_KEY = 255  # https://docs.stripe.com/api/idempotent_requests


class StandinServer:
    """The stand-in: HTTP server, object store, clock, webhook dispatcher and expiry ticker.

    Args:
        config: listening address, keys, webhook endpoint and delays. Port 0 picks a free port
            (see ``base_url`` once constructed).

    Use ``start()``/``stop()`` to run it in background threads (the tests do), or
    ``serve_forever()`` to run it in the foreground (``python -m devtools.stripe_standin``).
    With ``config.state_file``, the objects are loaded from that file here and written to it
    after every change (``persist``; see ``persist.py``).

    Raises:
        StateFileError: the state file exists but cannot be read.
    """

    def __init__(self, config: Config):
        self.config = config
        self.clock = Clock()
        self.dispatcher = Dispatcher(
            config.webhook_url,
            config.webhook_secret,
            config.retry_schedule,
            config.delivery_timeout,
        )
        self.store = Store(self.clock, self.dispatcher.enqueue, config.async_delay)
        self.state_file = StateFile(config.state_file) if config.state_file else None
        self.loaded = self.state_file.load(self) if self.state_file else False
        self._events_saved = len(self.store.events)
        self.dispatcher.on_change = self.persist
        self.httpd = ThreadingHTTPServer((config.host, config.port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.standin = self  # type: ignore[attr-defined]
        self.store.checkout_base = self.base_url
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def persist(self) -> None:
        """Write the state file, if there is one and anything changed (called after each POST,
        webhook attempt, and by the ticker when an event was emitted since the last write)."""
        if self.state_file is not None:
            self._events_saved = len(self.store.events)
            self.state_file.save(self)

    @property
    def base_url(self) -> str:
        """``http://host:port`` the server listens on (the value for ``stripe.api_base``)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve, deliver webhooks and check expiries in daemon threads."""
        self.dispatcher.start()
        for target, name in ((self._serve, "http"), (self._tick, "ticker")):
            thread = threading.Thread(target=target, name=f"stripe-standin-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving and the background threads; closes the listening socket."""
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.dispatcher.stop()
        for thread in self._threads:
            thread.join(5)

    def serve_forever(self) -> None:
        """Run until interrupted (Ctrl-C or SIGTERM)."""
        self.start()
        try:
            self._stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Make ``serve_forever`` return (safe from a signal handler)."""
        self._stop.set()

    def reset(self) -> None:
        """Forget all objects, events and deliveries and return to the real clock."""
        with self.store.lock:
            self.store.reset()
            self.dispatcher.reset()
            self.clock.reset()

    def _serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.1)

    def _tick(self) -> None:
        while not self._stop.wait(self.config.tick):
            try:
                self.store.expire_due()
                # Expiries and settlements emit events (also those a GET of the page caused).
                if len(self.store.events) != self._events_saved:
                    self.persist()
            except Exception:  # keep ticking; the error is in the log
                logger.exception("expiry check failed")


# Stripe's routes the stand-in implements: (method, pattern) -> handler name.
_ID = r"([A-Za-z0-9_]+)"
_API_ROUTES = [
    ("POST", r"/v1/checkout/sessions", "create_session"),
    ("GET", r"/v1/checkout/sessions", "list_sessions"),
    ("GET", rf"/v1/checkout/sessions/{_ID}", "retrieve_session"),
    ("POST", rf"/v1/checkout/sessions/{_ID}/expire", "expire_session"),
    ("GET", rf"/v1/checkout/sessions/{_ID}/line_items", "session_line_items"),
    ("POST", r"/v1/refunds", "create_refund"),
    ("GET", rf"/v1/refunds/{_ID}", "retrieve_refund"),
    ("GET", rf"/v1/events/{_ID}", "retrieve_event"),
    ("GET", rf"/v1/payment_intents/{_ID}", "retrieve_payment_intent"),
    ("GET", rf"/v1/charges/{_ID}", "retrieve_charge"),
]
# Endpoints that take no parameter but ``expand``.
_NO_PARAMS = {
    "retrieve_session",
    "expire_session",
    "session_line_items",
    "retrieve_refund",
    "retrieve_event",
    "retrieve_payment_intent",
    "retrieve_charge",
}
_CONTROL_ROUTES = [
    ("GET", r"/_standin/health", "health"),
    ("GET", r"/_standin/events", "events"),
    ("POST", rf"/_standin/events/{_ID}/resend", "resend"),
    ("GET", r"/_standin/deliveries", "deliveries"),
    ("GET", r"/_standin/clock", "clock"),
    ("POST", r"/_standin/clock/advance", "advance_clock"),
    ("POST", r"/_standin/clock/reset", "reset_clock"),
    ("POST", r"/_standin/reset", "reset"),
    ("POST", r"/_standin/disputes", "dispute"),
    ("GET", r"/_standin/switches", "switches"),
    ("POST", r"/_standin/switches", "switches"),
]


def _match(routes: list[tuple[str, str, str]], method: str, path: str) -> tuple[str, tuple] | None:
    for route_method, pattern, name in routes:
        found = re.fullmatch(pattern, path)
        if found and route_method == method:
            return name, found.groups()
    return None


def _mask(key: str) -> str:
    """``sk_test_abcdefgh1234`` → ``sk_test_********1234``, as Stripe quotes a wrong key."""
    prefix = key[:8] if key.startswith(("sk_", "rk_")) else ""
    return prefix + "*" * max(4, len(key) - len(prefix) - 4) + key[-4:]


class _Handler(BaseHTTPRequestHandler):
    server_version = "stripe-standin"
    protocol_version = "HTTP/1.1"

    @property
    def standin(self) -> StandinServer:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib name
        self._handle("DELETE")

    # ------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, content_type: str, headers: Obj | None = None):
        if self.command == "POST":  # whatever it changed is on disk before the client hears
            self.standin.persist()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Obj, headers: Obj | None = None) -> None:
        body = json.dumps(obj, indent=2).encode()
        self._send(status, body, "application/json", headers)

    def _html(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def _params(self, method: str, query: str, body: bytes) -> Obj:
        text = body.decode("utf-8", errors="replace") if method == "POST" else query
        try:
            return decode_form(text)
        except FormError as error:
            raise StripeError(400, str(error), param=error.param) from error

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = parts.path.rstrip("/") or "/"
        if path.startswith("/v1/"):
            self._api(method, path, parts.query, body)
        elif path.startswith("/c/pay/"):
            self._page(method, path.removeprefix("/c/pay/"), body)
        elif path.startswith("/_standin/"):
            self._control(method, path, parts.query, body)
        else:
            self._json(404, _unrecognized(method, path).body())

    # ----------------------------------------------------------------- API

    def _api(self, method: str, path: str, query: str, body: bytes) -> None:
        request_id = new_id("req")
        version = self.headers.get("Stripe-Version") or DEFAULT_API_VERSION
        headers = {"Request-Id": request_id, "Stripe-Version": version}
        key = self.headers.get("Idempotency-Key")
        if key and method == "POST":
            headers["Idempotency-Key"] = key
        try:
            self._authenticate()
            route = _match(_API_ROUTES, method, path)
            if route is None:
                raise _unrecognized(method, path)
            params = self._params(method, query, body)
            if key and method == "POST":
                status, obj, replayed = self._idempotent(
                    key, method, path, params, route, request_id
                )
                if replayed:
                    headers["Idempotent-Replayed"] = "true"
            else:
                status, obj = 200, self._call(route, params, request_id, key)
        except StripeError as error:
            status, obj = error.status, error.body()
        self._json(status, obj, headers)

    def _authenticate(self) -> None:
        """Raise Stripe's 401 unless the request carries the configured secret key."""
        header = self.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        given = ""
        if scheme.lower() == "bearer":
            given = credential.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(credential).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                given = ""
        if not given:
            # Stripe answers 401 with type invalid_request_error; stripe-python raises
            # AuthenticationError for any 401.
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if given != self.standin.config.secret_key:
            raise StripeError(401, f"Invalid API Key provided: {_mask(given)}")

    def _idempotent(
        self, key: str, method: str, path: str, params: Obj, route: tuple, request_id: str
    ) -> tuple[int, Obj, bool]:
        """Run a POST under an ``Idempotency-Key``; returns (status, body, replayed).

        The first request's response is saved (unless its parameters failed validation) and
        replayed for the same key with the same endpoint and parameters; another endpoint or
        other parameters get a 400 ``idempotency_error``; a request while the first is still
        running gets a 409 (https://docs.stripe.com/api/idempotent_requests).
        """
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise StripeError(
                400,
                f"Idempotency keys can be at most {MAX_IDEMPOTENCY_KEY} characters long.",
                param="Idempotency-Key",
            )
        store = self.standin.store
        with store.lock:
            saved = store.idempotency.get(key)
            if saved is None:
                store.idempotency[key] = {"method": method, "path": path, "params": params}
            elif saved.get("status") is None:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this idempotent key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            elif (saved["method"], saved["path"], saved["params"]) != (method, path, params):
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                )
            else:
                return saved["status"], saved["body"], True
        try:
            obj = self._call(route, params, request_id, key)
        except StripeError as error:
            with store.lock:
                if error.saved and key in store.idempotency:
                    store.idempotency[key].update(status=error.status, body=error.body())
                else:
                    store.idempotency.pop(key, None)
            raise
        except BaseException:
            with store.lock:
                store.idempotency.pop(key, None)
            raise
        with store.lock:
            if key in store.idempotency:  # not cleared by a reset meanwhile
                store.idempotency[key].update(status=200, body=obj)
        return 200, obj, False

    def _call(self, route: tuple, params: Obj, request_id: str, key: str | None) -> Obj:
        """Run an API endpoint and apply ``expand``."""
        name, args = route
        store = self.standin.store
        request = {"id": request_id, "idempotency_key": key}
        expand = params.get("expand") or []
        if not isinstance(expand, list):
            expand = [expand]
        if name in _NO_PARAMS:
            for param in params:
                if param != "expand":
                    raise unknown(param)
        if name == "create_session":
            obj = store.create_session(params)
        elif name == "list_sessions":
            sessions, has_more = store.list_sessions(params)
            obj = {
                "object": "list",
                "data": sessions,
                "has_more": has_more,
                "url": "/v1/checkout/sessions",
            }
        elif name == "session_line_items":
            items = store.session_line_items(args[0])
            obj = {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/checkout/sessions/{args[0]}/line_items",
            }
        elif name == "expire_session":
            obj = store.expire_session(args[0], request)
        elif name == "create_refund":
            obj = store.create_refund(params, request)
        else:  # retrieve_*
            obj = getattr(store, name)(args[0])
        return store.expand(obj, [str(path) for path in expand])

    # ---------------------------------------------------------- hosted page

    def _page(self, method: str, session_id: str, body: bytes) -> None:
        store = self.standin.store
        try:
            session = store.check_open(session_id)
        except StripeError:
            self._html(404, page.not_found_page())
            return
        if session["status"] != "open" and method == "GET":
            self._html(200, page.unavailable_page(session))
            return
        if method == "GET":
            self._html(200, page.checkout_page(session, store.session_line_items(session_id)))
            return
        form = dict(parse_qsl(body.decode("utf-8", errors="replace")))
        action = form.get("action", "")
        if action == "cancel":
            self._redirect(session["cancel_url"])
            return
        if session["status"] != "open":
            self._html(409, page.unavailable_page(session))
            return
        items = store.session_line_items(session_id)
        email = form.get("email", "").strip()
        if action == "decline":
            error = "Your card was declined. Try another card or payment method."
            self._html(402, page.checkout_page(session, items, error, email))
            return
        if action not in ("pay", "delayed"):
            self._html(400, page.checkout_page(session, items, "Choose how to pay.", email))
            return
        if not session["customer_email"] and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            error = "Enter a valid email address."
            self._html(400, page.checkout_page(session, items, error, email))
            return
        try:
            store.pay(
                session_id,
                "card" if action == "pay" else "delayed",
                email,
                form.get("delayed_outcome", ""),
            )
        except StripeError:
            self._html(409, page.unavailable_page(store.retrieve_session(session_id)))
            return
        self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))

    # ------------------------------------------------------- test controls

    def _control(self, method: str, path: str, query: str, body: bytes) -> None:
        standin = self.standin
        try:
            route = _match(_CONTROL_ROUTES, method, path)
            if route is None:
                raise _unrecognized(method, path)
            name, args = route
            params = self._params("GET", query, b"")
            if method == "POST":
                params.update(self._params("POST", "", body))
            status, obj = 200, self._run_control(standin, name, args, params)
        except StripeError as error:
            status, obj = error.status, error.body()
        except ValueError as error:
            status, obj = 400, StripeError(400, str(error)).body()
        self._json(status, obj)

    @staticmethod
    def _run_control(standin: StandinServer, name: str, args: tuple, params: Obj) -> Obj:
        store = standin.store
        if name == "health":
            return {"status": "ok", "now": standin.clock.now()}
        if name == "events":
            with store.lock:
                events = [
                    event
                    for event in store.events.values()
                    if params.get("type") in (None, event["type"])
                ]
                return {"object": "list", "data": json.loads(json.dumps(events))}
        if name == "resend":
            return standin.dispatcher.resend(store.retrieve_event(args[0]))
        if name == "deliveries":
            found = [
                delivery
                for delivery in standin.dispatcher.list()
                if params.get("event_id") in (None, delivery["event_id"])
            ]
            return {"object": "list", "data": found}
        if name == "clock":
            return {"now": standin.clock.now()}
        if name == "advance_clock":
            seconds = params.get("seconds", "")
            if not re.fullmatch(r"\d+(\.\d+)?", str(seconds)):
                raise StripeError(400, "seconds must be a non-negative number", param="seconds")
            now = standin.clock.advance(float(seconds))
            store.expire_due()
            return {"now": now}
        if name == "reset_clock":
            return {"now": standin.clock.reset()}
        if name == "reset":
            standin.reset()
            return {"reset": True}
        if name == "dispute":
            return store.create_dispute(params)
        # switches
        flags = {}
        for flag in ("duplicate", "out_of_order"):
            if flag in params:
                if params[flag] not in ("true", "false"):
                    raise StripeError(400, f"{flag} must be true or false", param=flag)
                flags[flag] = params[flag] == "true"
        return standin.dispatcher.set_switches(**flags)


def _unrecognized(method: str, path: str) -> StripeError:
    """Stripe's 404 for a route it does not have (or the stand-in does not implement)."""
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). The Stripe stand-in implements only part "
        'of Stripe\'s API (README.md, "Payments: Stripe and the local stand-in").',
    )
