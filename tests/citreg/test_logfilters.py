"""``citreg.logfilters``: attendee link tokens never reach a log line."""

import io
import logging

import pytest
from django.test import Client

from citreg.logfilters import RedactLinkTokens, redact
from registrations import links
from tests.factories import make_offering, next_date, registration_in


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Forbidden (CSRF cookie not set.): /r/manage/eyJyIjoxfQ:1t:sig/", "/r/manage/[token]/"),
        ("Not Found: /r/confirm/12:1tX3a:abc-_d/", "/r/confirm/[token]/"),
        ('"POST /r/supervisor/abc:def/ HTTP/1.1" 403', '"POST /r/supervisor/[token]/ HTTP/1.1"'),
        ("/r/email/a.b-c_d:e?x=1", "/r/email/[token]?x=1"),
        ("/r/manage/eyJ:1t:sig/payment/", "/r/manage/[token]/payment/"),
    ],
)
def test_tokens_are_replaced(line, expected):
    assert expected in redact(line)


@pytest.mark.parametrize(
    "line", ["GET /r/manage/12/ 200", "/r/manage/12/payment/", '"GET /r/manage/7 HTTP/1.1"']
)
def test_registration_id_paths_stay(line):
    assert redact(line) == line


def test_a_refused_post_to_a_live_link_logs_no_token(course):
    """Django logs the path of a CSRF failure; through the console handler the token is gone."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactLinkTokens) for f in h.filters)
    )
    registration = registration_in("confirmed", make_offering(course, next_date(7, 8)))
    path = links.manage_path(registration)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    stream = io.StringIO()
    old_stream = handler.setStream(stream)
    try:
        response = Client(enforce_csrf_checks=True).post(path, {"action": "cancel"})
    finally:
        handler.setStream(old_stream)
    assert response.status_code == 403
    logged = stream.getvalue()
    assert "/r/manage/[token]/" in logged
    assert token not in logged
