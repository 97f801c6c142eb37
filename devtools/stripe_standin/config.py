"""Settings of the Stripe stand-in, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# The API version stripe-python 16.1 is generated for (stripe/_api_version.py); the stand-in
# answers with it when a request sends no Stripe-Version header, as Stripe answers with the
# account's default version (https://docs.stripe.com/api/versioning).
DEFAULT_API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True)
class Config:
    """How the stand-in listens, authenticates and delivers webhooks.

    Attributes:
        host: address to listen on (``STRIPE_STANDIN_HOST``, default 127.0.0.1).
        port: TCP port (``STRIPE_STANDIN_PORT``, default 12111; 0 picks a free port).
        secret_key: the only API key accepted (``STRIPE_SECRET_KEY``), sent as
            ``Authorization: Bearer <key>``.
        webhook_url: where events are POSTed (``STRIPE_WEBHOOK_URL``); empty records events
            without delivering them.
        webhook_secret: the ``whsec_…`` signing secret (``STRIPE_WEBHOOK_SECRET``).
        retry_schedule: seconds to wait before each retry of a delivery answered with a non-2xx
            status or not answered (``STRIPE_STANDIN_RETRY_SCHEDULE``, comma-separated, default
            ``1,2,4,8,16``); after the last one the delivery is marked failed. Stripe retries for
            up to three days with exponential backoff (https://docs.stripe.com/webhooks, "Retry
            behavior"); the stand-in shortens that to seconds.
        async_delay: seconds (of the stand-in clock) between completing a Checkout Session with a
            delayed payment method and its ``async_payment_succeeded``/``_failed`` event
            (``STRIPE_STANDIN_ASYNC_DELAY``, default 5).
        tick: seconds between checks for expired sessions and due delayed payments.
        delivery_timeout: seconds to wait for the webhook endpoint's answer.
        state_file: a JSON file the objects are loaded from at start and written to after each
            change (``STRIPE_STANDIN_STATE_FILE``; ``make run`` uses
            ``var/stripe-standin-state.json``); empty keeps them in memory only (the tests).
    """

    host: str = "127.0.0.1"
    port: int = 12111
    secret_key: str = "sk_test_standin"  # noqa: S105 - a test-mode key, never a real secret
    webhook_url: str = ""
    webhook_secret: str = "whsec_standin"  # noqa: S105 - a test-mode secret
    retry_schedule: tuple[float, ...] = field(default=(1, 2, 4, 8, 16))
    async_delay: float = 5
    tick: float = 0.2
    delivery_timeout: float = 10
    state_file: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Config":
        """Build the settings from environment variables (names in the attribute list).

        Raises:
            ValueError: for a port, delay or schedule that is not a number.
        """
        defaults = cls()
        schedule = environ.get("STRIPE_STANDIN_RETRY_SCHEDULE", "")
        return cls(
            host=environ.get("STRIPE_STANDIN_HOST", defaults.host),
            port=int(environ.get("STRIPE_STANDIN_PORT", defaults.port)),
            secret_key=environ.get("STRIPE_SECRET_KEY") or defaults.secret_key,
            webhook_url=environ.get("STRIPE_WEBHOOK_URL", defaults.webhook_url),
            webhook_secret=environ.get("STRIPE_WEBHOOK_SECRET") or defaults.webhook_secret,
            retry_schedule=(
                tuple(float(part) for part in schedule.split(",") if part.strip())
                if schedule.strip()
                else defaults.retry_schedule
            ),
            async_delay=float(environ.get("STRIPE_STANDIN_ASYNC_DELAY", defaults.async_delay)),
            state_file=environ.get("STRIPE_STANDIN_STATE_FILE", defaults.state_file),
        )
