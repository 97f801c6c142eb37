"""``registrations.views.ratelimits``: abuse limits per email and per IP, and the 429 page."""

import pytest


@pytest.mark.django_db
def test_too_many_link_requests_get_the_429_page(client, settings, db):
    from django.core.cache import cache

    cache.clear()
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_LINK_REQUEST = "3/h"
    settings.RATELIMIT_LINK_REQUEST_IP = "5/h"
    for _ in range(3):
        assert client.post("/r/link/", {"email": "x@example.org"}).status_code == 200
    response = client.post("/r/link/", {"email": "x@example.org"})
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    assert "Too many attempts" in response.content.decode()
    # Another email from the same address is limited by IP, at its own (higher) rate.
    assert client.post("/r/link/", {"email": "y@example.org"}).status_code == 200
    assert client.post("/r/link/", {"email": "z@example.org"}).status_code == 429


@pytest.mark.django_db
def test_one_address_written_two_ways_shares_one_counter(client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_LINK_REQUEST = "2/h"
    settings.RATELIMIT_LINK_REQUEST_IP = "50/h"
    assert client.post("/r/link/", {"email": "Ana@Bücher.example"}).status_code == 200
    assert client.post("/r/link/", {"email": "ana@xn--bcher-kva.example"}).status_code == 200
    assert client.post("/r/link/", {"email": " ANA@BÜCHER.EXAMPLE "}).status_code == 429
