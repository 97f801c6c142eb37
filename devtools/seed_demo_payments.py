"""Give the demo's paid registrations a payment at the local Stripe stand-in.

``load_demo_registrations`` records confirmed and refunded demo registrations with a paid
``Payment`` but no PaymentIntent, as no card was charged. A refund (cancelling a class, "Cancel
and refund…") asks Stripe for the PaymentIntent, so for the default run this script records each
such payment at the stand-in (``Store.record_payment``, written to its state file,
``var/stripe-standin-state.json``) and stores the PaymentIntent's id on the payment. It does
nothing when a real Stripe key is configured (``STRIPE_SECRET_KEY``) and skips payments that
already have a PaymentIntent, so it is safe to run on every ``make run``. Local development only.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citreg.settings.base")

import django  # noqa: E402

django.setup()

from devtools.run_env import STATE_FILE, user_settings  # noqa: E402
from devtools.stripe_standin.config import Config  # noqa: E402
from devtools.stripe_standin.server import StandinServer  # noqa: E402
from registrations.enums import PaymentStatus  # noqa: E402
from registrations.payments.models import Payment  # noqa: E402


def main() -> None:
    """Record every paid payment without a PaymentIntent at the stand-in's state file; print
    how many. The stand-in must not be running (``make run`` calls this before starting it)."""
    settings = user_settings(os.environ, ROOT / ".env")
    if settings.get("STRIPE_SECRET_KEY"):
        print("A Stripe key is configured: demo payments are left without a PaymentIntent.")
        return
    unpaired = list(
        Payment.objects.filter(status=PaymentStatus.PAID, stripe_payment_intent_id="")
        .select_related("registration")
        .order_by("pk")
    )
    if not unpaired:
        return
    standin = StandinServer(
        Config(
            port=0, state_file=settings.get("STRIPE_STANDIN_STATE_FILE") or str(ROOT / STATE_FILE)
        )
    )
    try:
        for payment in unpaired:
            intent = standin.store.record_payment(
                amount=payment.amount_cents,
                currency=payment.currency,
                email=payment.registration.email,
                description=f"Demo tuition, registration {payment.registration_id}",
                metadata={"registration_id": str(payment.registration_id)},
            )
            if payment.amount_refunded_cents:
                standin.store.charges[standin.store.payment_intents[intent]["latest_charge"]][
                    "amount_refunded"
                ] = payment.amount_refunded_cents
            Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=intent)
        standin.persist()
    finally:
        standin.httpd.server_close()
    print(f"Recorded {len(unpaired)} demo payments at the Stripe stand-in.")


if __name__ == "__main__":
    main()
