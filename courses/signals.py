"""Signals courses sends for other apps, so ``courses`` never imports them."""

from django.dispatch import Signal

# Sent by ``courses.scheduling.offering_schedule_changed`` inside the transaction that changed an
# offering's session times or meeting link, after its ``schedule_version`` was raised.
# Arguments: ``offering`` (re-read, new version), ``times_changed`` and ``link_changed`` (bools),
# ``previous_times`` (the sessions' aware (start, end) pairs before the change; empty if unknown).
offering_changed = Signal()

# Sent by the offering's admin before a change of times or meeting link is confirmed, inside a
# transaction that holds the new times and is rolled back: receivers describe what they would
# send and send nothing. Same arguments as ``offering_changed``; each receiver returns a dict
# (``registrations.messaging.notices.preview_update``: ``count``, ``subject``, ``text``).
offering_change_preview = Signal()
