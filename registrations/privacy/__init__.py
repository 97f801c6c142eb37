"""Personal data that expires (``docs/architecture.md``, "Security and privacy").

* ``scrub``: what removing data means, field by field and side table by side table (the
  registration, its audit history, its events, its emails, the admin log, refund reasons, Stripe
  payloads). Three scopes: sensitive details, contact details (erasure of a training record) and
  full anonymisation.
* ``retention``: the retention periods (settings), the daily beat task that applies them and the
  wording of the privacy notice.
* ``erasure``: erasing one person's personal data on request (the admin action).

This package sits in its own layer just above ``payments``: it reads payments, refunds and
webhook events, and only the interface (views, admin) imports it.
"""
