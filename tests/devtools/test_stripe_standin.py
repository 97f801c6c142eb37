"""Contract tests of the Stripe stand-in , driven through the official ``stripe`` library
and plain HTTP, with a small webhook receiver that verifies signatures as an app would.

No database: the stand-in and the receiver run in threads of the test process on free ports.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import stripe

from devtools.stripe_standin import Config, StandinServer, sign
from devtools.stripe_standin.forms import FormError, decode_form
from devtools.stripe_standin.persist import StateFileError

KEY = "sk_test_standin_contract"
WHSEC = "whsec_standin_contract"
SUCCESS = "https://citreg.test/payments/done/?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://citreg.test/payments/cancelled/"


# ------------------------------------------------------------------ fixtures


class Receiver:
    """A webhook endpoint: records each POST and answers with queued statuses (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/payments/stripe/webhook/"

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events received so far (parsed, unverified), optionally of one type."""
        with self.lock:
            found = [json.loads(request["body"]) for request in self.requests]
        return [event for event in found if event_type in (None, event["type"])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[StandinServer]:
    config = Config(
        port=0,
        secret_key=KEY,
        webhook_url=receiver.url,
        webhook_secret=WHSEC,
        retry_schedule=(0.2, 0.3),
        async_delay=0.3,
        tick=0.05,
        delivery_timeout=2,
    )
    server = StandinServer(config)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(standin: StandinServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": standin.base_url}, max_network_retries=0)


def wait_for(predicate: Callable[[], Any], timeout: float = 5) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http(
    method: str, url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, str]:
    """One plain HTTP request; returns (status, headers, body text) without following redirects."""
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 12500,
                    "product_data": {"name": "CIT Support Training for 911, June 2027"},
                },
                "quantity": 1,
            }
        ],
        "customer_email": "calltaker@psap.example.org",
        "client_reference_id": "registration-42",
        "metadata": {"registration_id": "42"},
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
    }
    params.update(overrides)
    return params


def pay(session: Any, action: str = "pay", **form: str) -> tuple[int, Any, str]:
    """Press a button of the hosted checkout page."""
    return http("POST", session.url, {"action": action, **form})


# ------------------------------------------------------ form decoding (unit)


def test_nested_form_keys_decode_into_dicts_and_lists():
    params = decode_form(
        "line_items[1][quantity]=2&line_items[0][price_data][unit_amount]=12500"
        "&line_items[0][quantity]=1&metadata[a]=b&expand[]=x&expand[]=y&mode=payment"
    )

    assert params == {
        "line_items": [
            {"price_data": {"unit_amount": "12500"}, "quantity": "1"},
            {"quantity": "2"},
        ],
        "metadata": {"a": "b"},
        "expand": ["x", "y"],
        "mode": "payment",
    }
    with pytest.raises(FormError):
        decode_form("a=1&a[b]=2")


# -------------------------------------------------------- Checkout Sessions


def test_create_returns_a_stripe_shaped_open_session(client, standin):
    before = int(time.time())
    session = client.v1.checkout.sessions.create(
        params=session_params(
            line_items=[
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 12500,
                        "product_data": {"name": "CIT"},
                    },
                    "quantity": 2,
                }
            ]
        )
    )

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency) == (25000, "usd")
    assert session.payment_intent is None
    assert session.url == f"{standin.base_url}/c/pay/{session.id}"
    assert session.metadata.to_dict() == {"registration_id": "42"}
    assert session.client_reference_id == "registration-42"
    assert session.customer_email == "calltaker@psap.example.org"
    assert before <= session.created <= int(time.time())
    assert session.expires_at == session.created + 24 * 60 * 60


def test_retrieve_returns_the_session_and_an_unknown_id_is_resource_missing(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    assert client.v1.checkout.sessions.retrieve(created.id).to_dict() == created.to_dict()
    expanded = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["line_items"]})
    item = expanded.line_items.data[0]
    assert (item.quantity, item.price.unit_amount, item.amount_total) == (1, 12500, 12500)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert refused.value.http_status == 404
    assert refused.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("seconds_ahead", "accepted"),
    [(29 * 60, False), (31 * 60, True), (23 * 3600, True), (24 * 3600 + 60, False)],
)
def test_expires_at_must_be_30_minutes_to_24_hours_ahead(client, seconds_ahead, accepted):
    expires_at = int(time.time()) + seconds_ahead
    if accepted:
        session = client.v1.checkout.sessions.create(params=session_params(expires_at=expires_at))
        assert session.expires_at == expires_at
        return
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=session_params(expires_at=expires_at))
    assert refused.value.param == "expires_at"
    assert refused.value.http_status == 400
    assert "`expires_at` timestamp must be" in refused.value.user_message


def test_expires_at_window_follows_the_standin_clock(client, standin):
    standin.clock.advance(3 * 3600)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=session_params(expires_at=int(time.time()) + 3600)
        )
    before = int(time.time())
    session = client.v1.checkout.sessions.create(
        params=session_params(expires_at=before + 4 * 3600)
    )
    assert session.created >= before + 3 * 3600


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"line_items": []}, "line_items"),
        ({"success_url": None}, "success_url"),
        ({"cancel_url": None}, "cancel_url"),
        ({"mode": "subscription"}, "mode"),
        ({"customer_email": "not-an-address"}, "customer_email"),
        ({"payment_method": "card"}, "payment_method"),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": "12.50",
                            "product_data": {"name": "CIT"},
                        },
                        "quantity": 1,
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 100,
                            "product_data": {"name": "CIT"},
                        }
                    }
                ]
            },
            "line_items[0][quantity]",
        ),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 100,
                            "product_data": {"description": "no name"},
                        },
                        "quantity": 1,
                    }
                ]
            },
            "line_items[0][price_data][product_data][name]",
        ),
    ],
)
def test_invalid_session_parameters_are_refused_naming_the_param(client, change, param):
    params = {key: value for key, value in session_params(**change).items() if value is not None}

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=params)

    assert refused.value.param == param
    assert refused.value.error.type == "invalid_request_error"


def free_item(cents: int) -> list[dict[str, Any]]:
    return [
        {
            "price_data": {"currency": "usd", "unit_amount": cents, "product_data": {"name": "x"}},
            "quantity": 1,
        }
    ]


def test_a_zero_total_needs_no_payment_and_a_tiny_one_is_refused(client, receiver):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=session_params(line_items=free_item(30)))
    assert "at least $0.50" in refused.value.user_message

    session = client.v1.checkout.sessions.create(params=session_params(line_items=free_item(0)))
    assert pay(session)[0] == 303

    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.payment_intent) == (
        "complete",
        "no_payment_required",
        None,
    )


def test_expire_sends_checkout_session_expired_and_only_open_sessions_expire(client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    event = wait_for(lambda: receiver.events("checkout.session.expired"))[0]
    assert event["data"]["object"]["id"] == session.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)


def test_list_filters_by_payment_intent(client):
    paid = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.create(params=session_params())
    assert pay(paid)[0] == 303
    intent = client.v1.checkout.sessions.retrieve(paid.id).payment_intent

    found = client.v1.checkout.sessions.list(params={"payment_intent": intent})

    assert intent.startswith("pi_")
    assert [session.id for session in found.data] == [paid.id]
    assert len(client.v1.checkout.sessions.list().data) == 2


def test_list_filters_by_created_and_pages_with_starting_after(client, standin):
    made = []
    for _ in range(5):
        made.append(client.v1.checkout.sessions.create(params=session_params()))
        standin.clock.advance(10)
    first, last = made[1].created, made[3].created

    window = client.v1.checkout.sessions.list(
        params={"created": {"gte": first, "lte": last}, "limit": 2}
    )
    paged = [session.id for session in window.auto_paging_iter()]
    exact = client.v1.checkout.sessions.list(params={"created": made[0].created})
    after = client.v1.checkout.sessions.list(params={"created": {"gt": last}})

    assert window.has_more and len(window.data) == 2
    assert paged == [made[3].id, made[2].id, made[1].id]  # newest first, across pages
    assert [session.id for session in exact.data] == [made[0].id]
    assert [session.id for session in after.data] == [made[4].id]
    with pytest.raises(stripe.InvalidRequestError, match="created"):
        client.v1.checkout.sessions.list(params={"created": {"since": first}})
    with pytest.raises(stripe.InvalidRequestError, match="Invalid integer"):
        client.v1.checkout.sessions.list(params={"created": {"gte": "soon"}})


def test_module_level_api_base_works_too(standin, monkeypatch):
    monkeypatch.setattr(stripe, "api_key", KEY)
    monkeypatch.setattr(stripe, "api_base", standin.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)

    session = stripe.checkout.Session.create(**session_params())

    assert stripe.checkout.Session.retrieve(session.id).status == "open"


# ------------------------------------------------ headers: auth, idempotency


def test_a_wrong_or_missing_key_is_refused_with_401(standin):
    wrong = stripe.StripeClient(
        "sk_test_wrong_key_1234", base_addresses={"api": standin.base_url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as refused:
        wrong.v1.checkout.sessions.create(params=session_params())
    assert refused.value.http_status == 401
    assert "1234" in refused.value.user_message
    assert "wrong_key" not in refused.value.user_message

    status, _, body = http("GET", f"{standin.base_url}/v1/checkout/sessions")
    assert status == 401
    assert "You did not provide an API key" in json.loads(body)["error"]["message"]


def test_same_idempotency_key_replays_and_another_body_is_an_idempotency_error(client):
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "reg-42-attempt-1"}
    )
    again = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "reg-42-attempt-1"}
    )

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.checkout.sessions.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="registration-43"),
            options={"idempotency_key": "reg-42-attempt-1"},
        )


def test_a_refused_validation_is_not_saved_under_its_idempotency_key(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=session_params(mode="setup"), options={"idempotency_key": "k-1"}
        )
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-1"}
    )
    assert session.status == "open"


def test_stripe_version_is_accepted_and_echoed(standin):
    auth = {"Authorization": f"Bearer {KEY}"}
    status, headers, _ = http(
        "GET",
        f"{standin.base_url}/v1/checkout/sessions",
        headers={**auth, "Stripe-Version": "2026-10-28.endive"},
    )
    assert status == 200
    assert headers["Stripe-Version"] == "2026-10-28.endive"
    assert headers["Request-Id"].startswith("req_")
    status, headers, _ = http("GET", f"{standin.base_url}/v1/checkout/sessions", headers=auth)
    assert headers["Stripe-Version"] == stripe.api_version


# ------------------------------------------------------------------ refunds


def test_refunds_partial_then_the_rest_and_refuse_more(client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session)
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    partial = client.v1.refunds.create(params={"payment_intent": intent, "amount": 2500})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent, "amount": 10001})
    rest = client.v1.refunds.create(params={"payment_intent": intent})

    assert partial.id.startswith("re_")
    assert (partial.object, partial.amount, partial.status) == ("refund", 2500, "succeeded")
    assert partial.payment_intent == intent
    assert refused.value.param == "amount"
    assert "($100.01) is greater than unrefunded amount on charge ($100.00)" in str(
        refused.value.user_message
    )
    assert rest.amount == 10000
    assert client.v1.refunds.retrieve(partial.id).amount == 2500
    charges = [
        e["data"]["object"]
        for e in wait_for(
            lambda: (
                len(receiver.events("charge.refunded")) == 2 and receiver.events("charge.refunded")
            )
        )
    ]
    charges.sort(key=lambda charge: charge["amount_refunded"])
    assert [(c["amount_refunded"], c["refunded"]) for c in charges] == [
        (2500, False),
        (12500, True),
    ]
    assert charges[0]["payment_intent"] == intent
    assert charges[0]["id"].startswith("ch_")
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent})
    assert again.value.code == "charge_already_refunded"


def test_refunding_an_unpaid_or_unknown_payment_intent_is_refused(client, receiver):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create(params={"payment_intent": "pi_nope"})
    assert (unknown.value.http_status, unknown.value.code) == (404, "resource_missing")

    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session, "delayed", delayed_outcome="failed")
    wait_for(lambda: receiver.events("checkout.session.async_payment_failed"))
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as unpaid:
        client.v1.refunds.create(params={"payment_intent": intent})
    assert unpaid.value.param == "payment_intent"
    assert "does not have a successful charge" in unpaid.value.user_message


# ----------------------------------------------------------------- webhooks


def test_webhooks_are_signed_as_stripe_signs_them(client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session)

    request = wait_for(lambda: receiver.requests)[0]
    header = request["headers"]["Stripe-Signature"]
    event = stripe.Webhook.construct_event(request["body"], header, WHSEC)

    assert event.type == "checkout.session.completed"
    assert event.id.startswith("evt_")
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert client.v1.events.retrieve(event.id).type == "checkout.session.completed"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request["body"], header, "whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request["body"] + b" ", header, WHSEC)


def test_signature_matches_the_documented_scheme():
    header = sign(b'{"id": "evt_1"}', "whsec_x", 1_700_000_000)
    # HMAC-SHA256("whsec_x", '1700000000.{"id": "evt_1"}'), computed independently:
    expected = hmac.new(b"whsec_x", b'1700000000.{"id": "evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_500_answer_is_retried_until_accepted(client, receiver, standin):
    receiver.statuses = [500, 503]
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session)

    delivery = wait_for(
        lambda: [d for d in standin.dispatcher.list() if d["status"] == "succeeded"]
    )[0]

    assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 503, 200]
    assert [event["id"] for event in receiver.events()] == [delivery["event_id"]] * 3


def test_deliveries_fail_after_the_retry_schedule(client, receiver, standin):
    receiver.statuses = [500, 500, 500, 500]
    client.v1.checkout.sessions.expire(
        client.v1.checkout.sessions.create(params=session_params()).id
    )

    delivery = wait_for(lambda: [d for d in standin.dispatcher.list() if d["status"] == "failed"])[
        0
    ]

    assert len(delivery["attempts"]) == 3  # the first attempt and the two retries configured


def test_advancing_the_clock_expires_the_session(client, receiver, standin):
    session = client.v1.checkout.sessions.create(
        params=session_params(expires_at=int(time.time()) + 3600)
    )

    status, _, body = http(
        "POST", f"{standin.base_url}/_standin/clock/advance", {"seconds": "3601"}
    )

    assert status == 200
    assert json.loads(body)["now"] >= session.expires_at
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    event = wait_for(lambda: receiver.events("checkout.session.expired"))[0]
    assert event["data"]["object"]["id"] == session.id
    assert event["created"] >= session.expires_at
    assert "This Checkout Session has expired." in http("GET", session.url)[2]


def test_duplicate_and_out_of_order_switches(client, receiver, standin):
    base = standin.base_url
    http("POST", f"{base}/_standin/switches", {"duplicate": "true"})
    client.v1.checkout.sessions.expire(
        client.v1.checkout.sessions.create(params=session_params()).id
    )
    wait_for(lambda: len(receiver.events()) == 2)
    assert receiver.events()[0]["id"] == receiver.events()[1]["id"]

    http("POST", f"{base}/_standin/switches", {"duplicate": "false", "out_of_order": "true"})
    first = client.v1.checkout.sessions.create(params=session_params())
    second = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(first.id)
    client.v1.checkout.sessions.expire(second.id)
    time.sleep(0.2)
    assert len(receiver.events()) == 2  # held back
    http("POST", f"{base}/_standin/switches", {"out_of_order": "false"})
    wait_for(lambda: len(receiver.events()) == 4)
    released = [event["data"]["object"]["id"] for event in receiver.events()[2:]]
    assert released == [second.id, first.id]


def test_test_controls_list_resend_dispute_and_reset(client, receiver, standin):
    base = standin.base_url
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(session)
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent

    status, _, body = http("POST", f"{base}/_standin/disputes", {"payment_intent": intent})
    assert status == 200
    dispute = json.loads(body)
    assert dispute["id"].startswith("dp_")
    assert dispute["status"] == "needs_response"
    event = wait_for(lambda: receiver.events("charge.dispute.created"))[0]
    assert event["data"]["object"]["payment_intent"] == intent

    events = json.loads(http("GET", f"{base}/_standin/events")[2])["data"]
    assert [e["type"] for e in events] == ["checkout.session.completed", "charge.dispute.created"]
    status, _, _ = http("POST", f"{base}/_standin/events/{events[0]['id']}/resend")
    assert status == 200
    wait_for(lambda: len(receiver.events("checkout.session.completed")) == 2)
    deliveries = json.loads(
        http("GET", f"{base}/_standin/deliveries?event_id={events[0]['id']}")[2]
    )
    assert len(deliveries["data"]) == 2

    assert http("POST", f"{base}/_standin/reset")[0] == 200
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.retrieve(session.id)
    assert json.loads(http("GET", f"{base}/_standin/events")[2])["data"] == []


# ---------------------------------------------------------- hosted checkout page


def test_hosted_page_shows_the_item_and_paying_redirects_to_success_url(client, standin):
    session = client.v1.checkout.sessions.create(params=session_params())

    status, headers, html = http("GET", session.url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "CIT Support Training for 911, June 2027" in html
    assert "$125.00" in html
    for label in ("Pay (succeeds)", "Pay with a delayed method", "Card declined", "Cancel"):
        assert label in html
    assert '<html lang="en">' in html
    assert "<script" not in html and "<link" not in html and "src=" not in html  # no assets

    status, headers, _ = pay(session)

    assert status == 303
    location = urlsplit(headers["Location"])
    assert parse_qs(location.query) == {"session_id": [session.id]}
    paid = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.payment_intent.status == "succeeded"
    assert paid.payment_intent.amount == 12500


def test_declined_card_stays_on_the_page_and_cancel_goes_back(client):
    session = client.v1.checkout.sessions.create(params=session_params())

    status, _, html = pay(session, "decline")
    assert status == 402
    assert 'role="alert"' in html and "declined" in html
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    status, headers, _ = pay(session, "cancel")
    assert (status, headers["Location"]) == (303, CANCEL)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_page_asks_for_an_email_when_the_session_has_none(client, receiver):
    params = session_params()
    del params["customer_email"]
    session = client.v1.checkout.sessions.create(params=params)

    assert pay(session)[0] == 400
    assert pay(session, email="someone@psap.example.org")[0] == 303
    event = wait_for(lambda: receiver.events("checkout.session.completed"))[0]
    assert event["data"]["object"]["customer_details"]["email"] == "someone@psap.example.org"


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_delayed_payment_completes_unpaid_then_settles(client, receiver, outcome):
    session = client.v1.checkout.sessions.create(params=session_params())

    assert pay(session, "delayed", delayed_outcome=outcome)[0] == 303

    completed = client.v1.checkout.sessions.retrieve(session.id)
    assert (completed.status, completed.payment_status) == ("complete", "unpaid")
    event = wait_for(lambda: receiver.events(f"checkout.session.async_payment_{outcome}"))[0]
    settled = client.v1.checkout.sessions.retrieve(session.id)
    expected = "paid" if outcome == "succeeded" else "unpaid"
    assert settled.payment_status == event["data"]["object"]["payment_status"] == expected
    types = [e["type"] for e in receiver.events()]
    assert types == ["checkout.session.completed", f"checkout.session.async_payment_{outcome}"]


def test_clock_reset_returns_to_real_time_and_keeps_objects(client, standin):
    session = client.v1.checkout.sessions.create(params=session_params())
    advance = f"{standin.base_url}/_standin/clock/advance"
    status, _, body = http("POST", advance, {"seconds": "7200"})
    assert status == 200 and json.loads(body)["now"] >= int(time.time()) + 7199
    status, _, body = http("POST", f"{standin.base_url}/_standin/clock/reset", {})
    assert status == 200 and abs(json.loads(body)["now"] - time.time()) < 5
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id
    # New sessions are judged on the real clock again.
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"


# ------------------------------------------------ state kept across restarts


def standin_with_state(receiver: Receiver, state_file: Any) -> StandinServer:
    """A started stand-in on a free port that keeps its objects in ``state_file``."""
    server = StandinServer(
        Config(
            port=0, secret_key=KEY, webhook_url=receiver.url, webhook_secret=WHSEC,
            retry_schedule=(0.2, 0.3, 0.5, 1, 1), async_delay=0.3, tick=0.05,
            delivery_timeout=2, state_file=str(state_file),
        )
    )  # fmt: skip
    server.start()
    return server


def client_of(server: StandinServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": server.base_url}, max_network_retries=0)


def test_a_payment_made_before_a_restart_is_refunded_after_it(receiver, tmp_path):
    state_file = tmp_path / "var" / "stripe-standin-state.json"
    before = standin_with_state(receiver, state_file)
    client = client_of(before)
    created = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "payment-7-attempt-1"}
    )
    pay(created)
    intent = client.v1.checkout.sessions.retrieve(created.id).payment_intent
    wait_for(lambda: receiver.events("checkout.session.completed"))
    http("POST", f"{before.base_url}/_standin/clock/advance", {"seconds": "60"})
    before.stop()
    assert not list(state_file.parent.glob(".*.tmp"))  # written by rename, no scratch left

    after = standin_with_state(receiver, state_file)
    try:
        client = client_of(after)
        refund = client.v1.refunds.create(params={"payment_intent": intent})
        replay = client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "payment-7-attempt-1"}
        )
        charge = client.v1.charges.retrieve(
            client.v1.payment_intents.retrieve(intent).latest_charge
        )
        clock_ahead = after.clock.now() - time.time()
    finally:
        after.stop()

    assert after.loaded
    assert (refund.status, refund.amount, refund.payment_intent) == ("succeeded", 12500, intent)
    assert charge.refunded and charge.amount_refunded == 12500
    assert replay.id == created.id  # the idempotency key's saved answer survived too
    assert 55 <= clock_ahead <= 65  # so did the clock's offset
    refunded = wait_for(lambda: receiver.events("charge.refunded"))
    assert refunded[0]["data"]["object"]["payment_intent"] == intent
    assert len(receiver.events("checkout.session.completed")) == 1  # not delivered again


def test_a_webhook_undelivered_at_a_restart_is_delivered_after_it(receiver, tmp_path):
    state_file = tmp_path / "state.json"
    receiver.statuses = [500] * 50  # the app is down while the stand-in runs
    before = standin_with_state(receiver, state_file)
    client = client_of(before)
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)
    wait_for(lambda: receiver.requests)  # tried once, refused
    before.stop()
    receiver.statuses = []  # the app is back

    after = standin_with_state(receiver, state_file)
    try:
        delivered = wait_for(
            lambda: [d for d in after.dispatcher.list() if d["status"] == "succeeded"]
        )
    finally:
        after.stop()

    assert delivered[0]["event_type"] == "checkout.session.expired"
    assert receiver.events()[-1]["data"]["object"]["id"] == session.id


def test_a_state_file_that_cannot_be_read_is_refused_naming_it(receiver, tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text('{"format": 1, "sessions": ')

    with pytest.raises(StateFileError, match=str(state_file)):
        StandinServer(Config(port=0, state_file=str(state_file)))

    state_file.write_text('{"format": 99}')
    with pytest.raises(StateFileError, match="format 99"):
        StandinServer(Config(port=0, state_file=str(state_file)))


def test_without_a_state_file_nothing_is_written(client, standin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pay(client.v1.checkout.sessions.create(params=session_params()))

    assert standin.state_file is None
    assert list(tmp_path.iterdir()) == []
