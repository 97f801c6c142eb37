"""kombu's filesystem broker with whole messages only: the default run's broker when no Redis
answers (``CELERY_BROKER_URL=filesystem://``; settings select this class as
``CELERY_BROKER_TRANSPORT``).

kombu's ``filesystem`` channel creates a message's file in the queue folder and only then writes
it; a consumer that lists the folder in between takes an empty or half-written file and raises
``JSONDecodeError``, which stops the Celery worker and loses the message (docs/architecture.md,
"The default run", has the measurement). Here a message is written under a scratch name in
``incoming_folder`` and renamed into the queue folder (``os.replace``: atomic on one
filesystem), so a consumer only ever sees whole messages. A consumer moves the file it takes into
``processed_folder`` (beside the queue, so the move is a rename, never a copy into another
filesystem's temporary folder) before reading it, so two consumers never take the same message.
A file that still cannot be decoded (written by hand or by an older version) is set aside as
``<name>.unreadable`` in the processed folder and logged as an error, instead of stopping the
worker.

Bindings (which queue an exchange routes to) stay in each process's memory, as in kombu's other
transports without fanout (SQLAlchemy's, SQS's), instead of in files of ``control_folder``: kombu
creates such a file by truncating it and then writing, so a publisher reading it in between
failed, and a publisher that found the binding in memory before the file existed routed its
message nowhere (measured too). Celery declares a queue in each process before its first publish,
so direct routing needs nothing shared; fanout (Celery's remote control, ``celery inspect``, and
events) is not available, and citreg uses none of it.

What this broker cannot do: a message taken by a worker that is killed before acknowledging it is
lost (there is no visibility timeout). The outbox's sweeper and the beat tasks that restart
broadcasts, reconcile payments and retry refunds cover the tasks whose work is recorded in the
database; a lost "email me my link" request is asked again.
"""

import logging
import os
import threading
import uuid
from json import JSONDecodeError
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)


_BINDING = threading.Lock()


def publishing_order(name: str) -> tuple[int, str]:
    """Sort key of a message file: the number before the first ``_`` (milliseconds of the
    monotonic clock when it was published), then the name.

    Compared as a number, not as text: as text ``"999_…"`` would sort after ``"1000_…"``, and
    a file without a number (written by hand) sorts first, so it is looked at, not starved.
    """
    stamp = name.partition("_")[0]
    return (int(stamp) if stamp.isdigit() else -1, name)


class Channel(filesystem.Channel):
    """The filesystem channel with atomic publishing, same-filesystem consuming and bindings in
    memory."""

    supports_fanout = False

    def queue_bind(self, *args: Any, **kwargs: Any) -> None:
        """Bind a queue in this process's memory; threads wait for a binding under way, so none
        routes by a binding recorded but not yet in the exchange's table."""
        with _BINDING:
            super().queue_bind(*args, **kwargs)

    def get_table(self, exchange: str) -> Any:
        """The exchange's bindings, from memory (kombu's virtual channel)."""
        return virtual.Channel.get_table(self, exchange)

    @cached_property
    def incoming_folder(self) -> str:
        """Where a message is written before it is renamed into the queue folder (transport
        option ``incoming_folder``; default ``incoming`` beside ``data_folder_out``)."""
        default = os.path.join(os.path.dirname(os.path.abspath(self.data_folder_out)), "incoming")
        return self.transport_options.get("incoming_folder", default)

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Publish ``payload`` to ``queue``: write it whole, then rename it into the queue.

        File names sort in publishing order (milliseconds of the monotonic clock first), as
        kombu's do, so a queue is read oldest first.

        Raises:
            ChannelError: the message could not be written (disk full, folder missing).
        """
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        scratch = os.path.join(self.incoming_folder, name)
        try:
            with open(scratch, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(scratch, os.path.join(self.data_folder_out, name))
        except OSError as error:
            raise ChannelError(f"Cannot add message {name!r} to the queue folder") from error

    def _get(self, queue: str) -> Any:
        """The oldest message of ``queue``, removed from it.

        Raises:
            Empty: no message (kombu's signal to poll again later).
            ChannelError: a message taken could not be read.
        """
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in), key=publishing_order):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                os.replace(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue  # another consumer took it first
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
            except OSError as error:
                raise ChannelError(f"Cannot read message {name!r}") from error
            try:
                message = loads(bytes_to_str(payload))
            except (JSONDecodeError, UnicodeDecodeError):
                os.replace(taken, f"{taken}.unreadable")
                logger.error(
                    "broker.unreadable_message queue=%s file=%s.unreadable bytes=%s",
                    queue,
                    taken,
                    len(payload),
                )
                continue
            if not self.store_processed:
                os.remove(taken)
            return message
        raise Empty()


class Transport(filesystem.Transport):
    """kombu's filesystem transport with ``Channel`` above."""

    Channel = Channel
