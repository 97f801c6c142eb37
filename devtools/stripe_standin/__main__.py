"""``python -m devtools.stripe_standin``: run the Stripe stand-in in the foreground.

Settings come from the environment (see ``Config``): ``STRIPE_STANDIN_HOST``,
``STRIPE_STANDIN_PORT``, ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_URL``,
``STRIPE_WEBHOOK_SECRET``, ``STRIPE_STANDIN_RETRY_SCHEDULE``, ``STRIPE_STANDIN_ASYNC_DELAY``.
"""

import logging
import signal
import sys

from .config import Config
from .server import StandinServer


def main() -> int:
    """Start the stand-in and serve until Ctrl-C or SIGTERM; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        config = Config.from_env()
    except ValueError as error:
        print(f"stripe stand-in: bad setting: {error}", file=sys.stderr)
        return 2
    server = StandinServer(config)
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    webhook = config.webhook_url or "nowhere (STRIPE_WEBHOOK_URL is not set)"
    print(
        f"Stripe stand-in on {server.base_url} (test mode), webhooks to {webhook}, "
        f"retries after {', '.join(f'{s:g}' for s in config.retry_schedule)} s",
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
