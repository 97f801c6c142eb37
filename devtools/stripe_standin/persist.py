"""The stand-in's state in a file, so a restart keeps what Stripe would keep.

Stripe never forgets a payment: a refund asked for a day later finds its PaymentIntent, a retried
request finds its idempotency key, an undelivered webhook is retried. The stand-in keeps all of
that in memory; with ``STRIPE_STANDIN_STATE_FILE`` set (``make run`` sets
``var/stripe-standin-state.json``) it also writes it to that file after every change (each POST
before its answer goes out, each expiry or settlement of the ticker, each webhook attempt) and
loads it at start. A write goes to a scratch file beside it, then ``os.replace``: a crash leaves
the previous state or the new one, never half of one.

Kept: Checkout Sessions and their line items, PaymentIntents, charges, refunds, disputes, events,
delayed payments still to settle, the idempotency keys with their saved answers (a request still
running when the stand-in stopped is forgotten, as its client saw no answer), the clock's offset,
the webhook deliveries (pending ones are retried after the restart) and the test switches.
"""

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import StandinServer

Obj = dict[str, Any]
FORMAT = 1  # the "format" field of the file; another value is refused
_STORE_TABLES = (
    "sessions",
    "line_items",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "events",
    "_intent_data",
)


class StateFileError(Exception):
    """The state file exists but cannot be used (not JSON, another format). The message says
    which file and what to do."""


class StateFile:
    """Reads and writes one stand-in's state at ``path`` (see the module docstring).

    Args:
        path: the JSON file; its folder is created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._written: bytes | None = None

    def load(self, standin: "StandinServer") -> bool:
        """Put the saved state into ``standin`` (before it starts); False when there is none.

        Raises:
            StateFileError: the file is not the stand-in's JSON.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        try:
            state = json.loads(raw)
            if state.get("format") != FORMAT:
                raise ValueError(f"format {state.get('format')!r}, expected {FORMAT}")
            _restore(standin, state)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StateFileError(
                f"cannot read the stand-in's state file {self.path}: {error}. Move it away to "
                "start with no payments (payments citreg recorded then refer to objects the "
                "stand-in no longer knows)."
            ) from error
        self._written = raw
        return True

    def save(self, standin: "StandinServer") -> None:
        """Write ``standin``'s state if it changed since the last write (atomically)."""
        with self._lock:
            data = _snapshot(standin)
            if data == self._written:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            scratch.write_bytes(data)
            os.replace(scratch, self.path)
            self._written = data


def _snapshot(standin: "StandinServer") -> bytes:
    """Everything the stand-in must remember, as JSON (serialised under its locks, while no
    request changes it)."""
    store, dispatcher = standin.store, standin.dispatcher
    with store.lock, dispatcher.lock:
        state: Obj = {"format": FORMAT, "clock_offset": standin.clock.offset}
        for table in _STORE_TABLES:
            state[table.lstrip("_")] = getattr(store, table)
        state["pending_async"] = {
            session: list(due) for session, due in store.pending_async.items()
        }
        state["idempotency"] = {
            key: saved for key, saved in store.idempotency.items() if saved.get("status")
        }
        state["deliveries"] = dispatcher.deliveries
        state["delivery_bodies"] = {
            event: body.decode() for event, body in dispatcher.bodies.items()
        }
        state["switches"] = {
            "duplicate": dispatcher.duplicate,
            "out_of_order": dispatcher.out_of_order,
        }
        return json.dumps(state, indent=1).encode()


def _restore(standin: "StandinServer", state: Obj) -> None:
    """Replace ``standin``'s objects by those of ``state`` (a ``_snapshot``)."""
    store, dispatcher = standin.store, standin.dispatcher
    with store.lock, dispatcher.lock:
        for table in _STORE_TABLES:
            value = state[table.lstrip("_")]
            if not isinstance(value, dict):
                raise TypeError(f"{table.lstrip('_')} is not an object")
            setattr(store, table, value)
        store.pending_async = {
            session: (float(due), str(outcome))
            for session, (due, outcome) in state["pending_async"].items()
        }
        store.idempotency = dict(state["idempotency"])
        dispatcher.deliveries = list(state["deliveries"])
        dispatcher.bodies = {
            event: body.encode() for event, body in state["delivery_bodies"].items()
        }
        dispatcher.duplicate = bool(state["switches"]["duplicate"])
        dispatcher.out_of_order = bool(state["switches"]["out_of_order"])
        standin.clock.offset = float(state["clock_offset"])
