"""The Django admin of the registrations app, one module per domain; the outbox's own admin
lives beside it in ``registrations.messaging.admin``. Who sees what is ``registrations.roles``;
``guards`` applies its field rule to every page that shows registrations."""

from registrations.messaging import admin as messaging_admin

from . import (
    attendance,
    broadcasts,
    certificates,
    class_cancellation,
    dashboard,
    offering_actions,
    payments,
    registrations,
    roster,
    staff,
    substitutions,
)

__all__ = [
    "attendance", "broadcasts", "dashboard", "messaging_admin", "payments", "registrations",
    "roster", "staff", "certificates", "substitutions", "class_cancellation",
    "offering_actions",
]  # fmt: skip
