"""``payments.stripe_gateway``: what citreg sends Stripe stays within Stripe's limits, whatever the
course title or a refund's reason holds (the hostile-text suite, ``tests/hostile``, sends every
typed field through checkout; these are its regressions)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from registrations.payments import stripe_gateway
from registrations.payments.stripe_gateway import (
    METADATA_VALUE_MAX,
    PRODUCT_NAME_FALLBACK,
    PRODUCT_NAME_MAX,
    StripeGateway,
    stripe_metadata,
    stripe_text,
)


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """The parameters of each call to Stripe's client (none reaches the network)."""
    made: list[dict] = []

    def create(params: dict, options: dict) -> SimpleNamespace:
        made.append(params)
        return SimpleNamespace(id="cs_test_1", url="https://checkout.test/", expires_at=0,
                               status="open")  # fmt: skip

    client = SimpleNamespace(
        v1=SimpleNamespace(
            checkout=SimpleNamespace(sessions=SimpleNamespace(create=create)),
            refunds=SimpleNamespace(
                create=lambda params, options: (
                    made.append(params) or SimpleNamespace(id="re_test_1")
                )
            ),  # fmt: skip
        )
    )
    monkeypatch.setattr(stripe_gateway, "_client", lambda: client)
    return made


def _create(product_name: str, metadata: dict[str, str]) -> None:
    StripeGateway().checkout_session_create(
        amount_cents=25000, currency="usd", product_name=product_name,
        customer_email="ana@example.org", client_reference_id="1", metadata=metadata,
        expires_at=timezone.now() + timedelta(hours=1), success_url="https://x/ok",
        cancel_url="https://x/", idempotency_key="k",
    )  # fmt: skip


def test_the_product_name_is_one_line_within_the_limit(calls):
    _create("CIT\r\nTraining\x1b[31m \u202e" + "x" * 400, {"registration": "1"})
    name = calls[0]["line_items"][0]["price_data"]["product_data"]["name"]
    assert name.startswith("CIT Training [31m x") and name.endswith("\u2026")
    assert len(name) == PRODUCT_NAME_MAX


def test_a_product_name_with_nothing_visible_gets_a_name(calls):
    _create("\r\n\u200b", {"registration": "1"})
    assert calls[0]["line_items"][0]["price_data"]["product_data"]["name"] == PRODUCT_NAME_FALLBACK


def test_metadata_values_are_one_line_within_stripe_limits(calls):
    _create("CIT", {"registration": "1", "note": "a\nb" + "y" * 600})
    for metadata in (calls[0]["metadata"], calls[0]["payment_intent_data"]["metadata"]):
        assert metadata["registration"] == "1"
        assert metadata["note"].startswith("a by") and len(metadata["note"]) == METADATA_VALUE_MAX


def test_a_refund_reason_is_one_line_within_the_limit(calls):
    StripeGateway().refund_create(
        payment_intent_id="pi_1", amount_cents=100, idempotency_key="r", reason="Moved\r\n" * 200
    )
    reason = calls[0]["metadata"]["reason"]
    assert "\n" not in reason and len(reason) == METADATA_VALUE_MAX


@pytest.mark.parametrize("key", ["", "x" * 41, "a[b]"])
def test_a_key_stripe_refuses_is_a_bug_found_before_the_call(key):
    with pytest.raises(ValueError, match="metadata key"):
        stripe_metadata({key: "1"})


def test_too_many_keys_are_refused():
    with pytest.raises(ValueError, match="at most 50"):
        stripe_metadata({f"k{i}": "1" for i in range(51)})


def test_stripe_text_keeps_ordinary_text():
    assert stripe_text("CIT Support Training for 911: July 8–9, 2027", 250) == (
        "CIT Support Training for 911: July 8–9, 2027"
    )
