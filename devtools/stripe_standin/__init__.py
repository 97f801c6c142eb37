"""A local stand-in for the part of Stripe's API citreg uses.

The official ``stripe`` library talks to it through ``stripe.api_base`` /
``StripeClient(base_addresses={"api": ...})``; it serves a hosted checkout page, signs and
delivers webhooks as Stripe does, and offers test controls under ``/_standin/``. Run it with
``python -m devtools.stripe_standin``; see README.md, "Payments: Stripe and the local stand-in".
Development and tests only: production code never imports ``devtools``.
"""

from .config import Config
from .server import StandinServer
from .webhooks import sign

__all__ = ["Config", "StandinServer", "sign"]
