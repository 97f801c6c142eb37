"""The Django admin of the registrations app, one module per domain; the outbox's own admin
lives beside it in ``registrations.messaging.admin``. Who sees what is ``registrations.roles``;
``guards`` applies its field rule to every page that shows registrations."""

from registrations.messaging import admin as messaging_admin

from . import broadcasts, payments, registrations, staff

__all__ = ["broadcasts", "messaging_admin", "payments", "registrations", "staff"]
