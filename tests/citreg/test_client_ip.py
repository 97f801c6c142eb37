"""``citreg.client_ip``: one client address for the rate limits and the sign-in lockout."""

import ipaddress

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from citreg.client_ip import client_ip, meta_key

PEER = "10.0.0.5"  # the reverse proxy, as the web server sees it


def request_with(**meta: str):
    return RequestFactory().get("/", REMOTE_ADDR=PEER, **meta)


def test_without_a_header_setting_the_peer_is_the_client(settings):
    settings.CLIENT_IP_HEADER = ""
    assert client_ip(request_with(HTTP_X_FORWARDED_FOR="198.51.100.7")) == PEER


@pytest.mark.parametrize("header", ["X-Forwarded-For", "x-forwarded-for", "HTTP_X_FORWARDED_FOR"])
def test_header_names_in_either_spelling(header):
    assert meta_key(header) == "HTTP_X_FORWARDED_FOR"


@pytest.mark.parametrize(
    ("forwarded", "count", "expected"),
    [
        ("198.51.100.7", 1, "198.51.100.7"),
        # A client's own X-Forwarded-For is kept by the proxy, which appends what it saw.
        ("203.0.113.66, 198.51.100.7", 1, "198.51.100.7"),
        ("203.0.113.66,198.51.100.7 , 10.1.1.1", 2, "198.51.100.7"),
        # Fewer entries than proxies: the request skipped the outer proxy.
        ("198.51.100.7", 2, "198.51.100.7"),
        ("198.51.100.7:4711", 1, "198.51.100.7"),
        ("[2001:db8::7]:4711", 1, "2001:db8::7"),
        ("2001:DB8::7", 1, "2001:db8::7"),
        # Not an address, or no header at all: the peer.
        ("unknown", 1, PEER),
        ("", 1, PEER),
        (" , ", 1, PEER),
    ],
)
def test_the_entry_our_proxies_wrote_is_the_client(settings, forwarded, count, expected):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(request_with(HTTP_X_FORWARDED_FOR=forwarded)) == expected


def test_a_single_value_header_like_x_real_ip(settings):
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request_with(HTTP_X_REAL_IP="198.51.100.9")) == "198.51.100.9"
    assert client_ip(request_with(HTTP_X_FORWARDED_FOR="198.51.100.9")) == PEER


@given(st.text(max_size=200), st.integers(min_value=1, max_value=4))
def test_any_header_value_gives_an_address_and_never_raises(forwarded, count):
    from django.test import override_settings

    with override_settings(CLIENT_IP_HEADER="X-Forwarded-For", TRUSTED_PROXY_COUNT=count):
        address = client_ip(request_with(HTTP_X_FORWARDED_FOR=forwarded))
    ipaddress.ip_address(address)  # raises if it is not an address


def test_both_limiters_are_configured_to_use_it(settings):
    assert settings.RATELIMIT_IP_META_KEY == "citreg.client_ip.client_ip"
    assert settings.AXES_CLIENT_IP_CALLABLE == "citreg.client_ip.client_ip"


@pytest.mark.django_db
@pytest.mark.parametrize("header_setting", ["X-Forwarded-For", ""], ids=["proxy", "no-proxy"])
def test_rate_limit_counts_forwarded_clients_separately(settings, header_setting):
    # Two call centres behind the same reverse proxy (one REMOTE_ADDR), limited per IP.
    cache.clear()
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_LINK_REQUEST = "100/h"
    settings.RATELIMIT_LINK_REQUEST_IP = "2/h"
    settings.CLIENT_IP_HEADER = header_setting
    first = Client(REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = Client(REMOTE_ADDR=PEER, HTTP_X_FORWARDED_FOR="198.51.100.2")
    for number in range(2):
        assert first.post("/r/link/", {"email": f"a{number}@example.org"}).status_code == 200
    assert first.post("/r/link/", {"email": "a9@example.org"}).status_code == 429
    answer = second.post("/r/link/", {"email": "b@example.org"}).status_code
    # Without the setting every visitor behind the proxy shares the proxy's bucket.
    assert answer == (200 if header_setting else 429)
