"""Fixtures for the outbox's tests."""

import pytest

from registrations.messaging import outbox


@pytest.fixture
def published(monkeypatch):
    """Record the ids the pipeline publishes instead of sending them to the broker."""
    ids: list[int] = []
    monkeypatch.setattr(outbox, "enqueue_send", lambda pk, countdown=0: ids.append(pk) or True)
    return ids
