"""Signals courses sends for other apps, so ``courses`` never imports them."""

from django.dispatch import Signal

# Sent by ``courses.scheduling.offering_schedule_changed`` inside the transaction that changed an
# offering's session times or meeting link, after its ``schedule_version`` was raised.
# Arguments: ``offering`` (re-read, new version), ``times_changed`` and ``link_changed`` (bools).
offering_changed = Signal()
