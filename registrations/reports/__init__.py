"""Reads for the training office's admin pages: the dashboard (``dashboard``) and the class
roster (``roster``). Nothing here writes; the admin's pages and exports show what these return.

A layer just above ``payments`` (``docs/architecture.md``, "Layers"): it reads seats, payments
and the outbox's rows; only the interface (``registrations.admin``) imports it.
"""
