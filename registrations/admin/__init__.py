"""The Django admin of the registrations app, one module per domain; the outbox's own admin
lives beside it in ``registrations.messaging.admin``."""

from registrations.messaging import admin as messaging_admin

from . import broadcasts, payments, registrations

__all__ = ["broadcasts", "messaging_admin", "payments", "registrations"]
