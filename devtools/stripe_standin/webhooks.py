"""Signing events as Stripe signs them and delivering them to the webhook endpoint with retries.

Stripe POSTs each event as JSON with a ``Stripe-Signature: t=<unix seconds>,v1=<hex>`` header,
where ``v1`` is the HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the endpoint's ``whsec_…``
secret, signed afresh at each attempt (https://docs.stripe.com/webhooks#verify-manually). Any
answer but a 2xx is a failure and is retried with backoff; Stripe does not promise to deliver
each event only once nor in order (https://docs.stripe.com/webhooks#handle-duplicate-events,
#event-ordering), which the ``duplicate`` and ``out_of_order`` switches reproduce.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from .state import new_id

Obj = dict[str, Any]


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``.

    Args:
        payload: the exact bytes of the request body.
        secret: the webhook signing secret (``whsec_…``), used as the HMAC key as is.
        timestamp: unix seconds of the attempt (the receiver refuses ones older than its
            tolerance, 300 s in ``stripe.Webhook.construct_event``).

    Returns:
        ``"t=<timestamp>,v1=<hex HMAC-SHA256 of '<timestamp>.<payload>'>"``.
    """
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Stripe counts a redirect as a failed delivery; do not follow it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class Dispatcher:
    """Queues events for the webhook endpoint and delivers them from one background thread.

    Args:
        url: the endpoint (``STRIPE_WEBHOOK_URL``); empty keeps events undelivered.
        secret: the signing secret.
        retry_schedule: seconds before the 1st, 2nd, … retry of a failed delivery; when they are
            used up the delivery is ``failed``.
        timeout: seconds to wait for the endpoint's answer.

    Each delivery is a dict ``{"id", "event_id", "event_type", "status"
    (held|pending|succeeded|failed), "attempts": [{"at", "status", "error"}], "next_attempt_at"}``
    (times in unix seconds of the real clock: retries do not follow the test clock); ``bodies``
    maps each event id to the exact bytes delivered. ``on_change``, when set, is called (without
    any lock held) after each attempt is recorded: the server saves its state then.
    """

    def __init__(self, url: str, secret: str, retry_schedule: tuple[float, ...], timeout: float):
        self.url = url
        self.secret = secret
        self.retry_schedule = retry_schedule
        self.timeout = timeout
        self.lock = threading.Condition()
        self.on_change: Callable[[], None] | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        """Forget all deliveries and turn the test switches off."""
        with self.lock:
            self.deliveries: list[Obj] = []
            self.bodies: dict[str, bytes] = {}
            self.duplicate = False
            self.out_of_order = False

    def enqueue(self, event: Obj) -> list[Obj]:
        """Queue ``event`` (twice with the ``duplicate`` switch; held back with
        ``out_of_order``). Returns the new deliveries (none without a webhook URL)."""
        if not self.url:
            return []
        with self.lock:
            self.bodies[event["id"]] = json.dumps(event, indent=2).encode()
            copies = 2 if self.duplicate else 1
            created = [self._add(event, held=self.out_of_order) for _ in range(copies)]
            self.lock.notify_all()
            return [dict(delivery) for delivery in created]

    def _add(self, event: Obj, held: bool) -> Obj:
        delivery = {
            "id": new_id("whdel"),
            "event_id": event["id"],
            "event_type": event["type"],
            "status": "held" if held else "pending",
            "attempts": [],
            "next_attempt_at": None if held else time.time(),
        }
        self.deliveries.append(delivery)
        return delivery

    def set_switches(self, duplicate: bool | None = None, out_of_order: bool | None = None) -> Obj:
        """Turn the test switches on or off. Turning ``out_of_order`` off releases the events
        held while it was on, newest first. Returns the switches now."""
        with self.lock:
            if duplicate is not None:
                self.duplicate = duplicate
            if out_of_order is not None:
                self.out_of_order = out_of_order
                if not out_of_order:
                    held = [d for d in self.deliveries if d["status"] == "held"]
                    start = time.time()
                    for position, delivery in enumerate(reversed(held)):
                        delivery["status"] = "pending"
                        delivery["next_attempt_at"] = start + position * 0.001
                    self.lock.notify_all()
            return {"duplicate": self.duplicate, "out_of_order": self.out_of_order}

    def list(self) -> list[Obj]:
        """Copies of all deliveries, oldest first."""
        with self.lock:
            return [dict(d, attempts=list(d["attempts"])) for d in self.deliveries]

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread = threading.Thread(target=self._run, name="stripe-standin-webhooks")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop the delivery thread (waits for an attempt under way)."""
        with self.lock:
            self._stopped = True
            self.lock.notify_all()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)

    def _run(self) -> None:
        while True:
            with self.lock:
                delivery = self._next_due()
                while delivery is None and not self._stopped:
                    self.lock.wait(self._wait_time())
                    delivery = self._next_due()
                if self._stopped:
                    return
                body = self.bodies[delivery["event_id"]]
            status, error = self._attempt(body)
            with self.lock:
                self._record(delivery, status, error)
            if self.on_change is not None:
                self.on_change()

    def _next_due(self) -> Obj | None:
        now = time.time()
        due = [
            d for d in self.deliveries if d["status"] == "pending" and d["next_attempt_at"] <= now
        ]
        return min(due, key=lambda d: d["next_attempt_at"]) if due else None

    def _wait_time(self) -> float:
        times = [d["next_attempt_at"] for d in self.deliveries if d["status"] == "pending"]
        return max(0.01, min(times) - time.time()) if times else 1.0

    def _attempt(self, body: bytes) -> tuple[int | None, str | None]:
        """POST one signed delivery; returns (HTTP status or None, error text or None)."""
        request = urllib.request.Request(  # noqa: S310 - the configured local endpoint
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(body, self.secret, int(time.time())),
            },
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return response.status, None
        except urllib.error.HTTPError as error:
            return error.code, None
        except (OSError, ValueError) as error:
            return None, str(error)

    def _record(self, delivery: Obj, status: int | None, error: str | None) -> None:
        delivery["attempts"].append({"at": int(time.time()), "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            delivery["status"] = "succeeded"
            delivery["next_attempt_at"] = None
            return
        retries_done = len(delivery["attempts"]) - 1
        if retries_done < len(self.retry_schedule):
            delivery["next_attempt_at"] = time.time() + self.retry_schedule[retries_done]
        else:
            delivery["status"] = "failed"
            delivery["next_attempt_at"] = None

    def resend(self, event: Obj) -> Obj:
        """Queue one more delivery of ``event`` now (as "Resend" in Stripe's Dashboard), even
        while the ``out_of_order`` switch holds new ones. Raises ValueError without a URL."""
        if not self.url:
            raise ValueError("no STRIPE_WEBHOOK_URL is configured")
        with self.lock:
            self.bodies[event["id"]] = json.dumps(event, indent=2).encode()
            delivery = self._add(event, held=False)
            self.lock.notify_all()
            return dict(delivery)
