"""``python -m devtools.stripe_standin``: run the Stripe stand-in in the foreground.

Settings come from the environment (see ``Config``): ``STRIPE_STANDIN_HOST``,
``STRIPE_STANDIN_PORT``, ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_URL``,
``STRIPE_WEBHOOK_SECRET``, ``STRIPE_STANDIN_RETRY_SCHEDULE``, ``STRIPE_STANDIN_ASYNC_DELAY``,
``STRIPE_STANDIN_STATE_FILE``.
"""

import logging
import signal
import sys

from .config import Config
from .persist import StateFileError
from .server import StandinServer


def main() -> int:
    """Start the stand-in and serve until Ctrl-C or SIGTERM; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        config = Config.from_env()
    except ValueError as error:
        print(f"stripe stand-in: bad setting: {error}", file=sys.stderr)
        return 2
    try:
        server = StandinServer(config)
    except StateFileError as error:
        print(f"stripe stand-in: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    webhook = config.webhook_url or "nowhere (STRIPE_WEBHOOK_URL is not set)"
    print(
        f"Stripe stand-in on {server.base_url} (test mode), webhooks to {webhook}, "
        f"retries after {', '.join(f'{s:g}' for s in config.retry_schedule)} s",
        flush=True,
    )
    if server.state_file is not None:
        store = server.store
        print(
            f"Stripe stand-in: objects kept in {config.state_file} ("
            + (
                f"loaded {len(store.sessions)} Checkout Sessions, "
                f"{len(store.payment_intents)} PaymentIntents, {len(store.refunds)} refunds)"
                if server.loaded
                else "new)"
            ),
            flush=True,
        )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
