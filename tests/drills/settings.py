"""Settings of a fault drill's own processes (web, worker, beat): the test settings with the
periodic work and the broker's redelivery made short, so a drill sees recovery in seconds.

Only the durations change; every rule and service is the one production runs. The values come
from the drill's environment (``tests/drills/harness.py`` sets them):

- ``DRILL_BEAT_SECONDS``: every beat entry that runs at most hourly (the outbox sweeper, the
  broadcast pump restarter, hold releases, reminders, payment reconciliation when it exists) runs
  this often instead; the daily ones keep their period.
- ``DRILL_VISIBILITY_TIMEOUT_SECONDS``: the Redis transport's ``visibility_timeout``, after which
  a message a dead worker had taken (acks late) is delivered again, and kombu's sweep for such
  messages runs every second (its default scans about every 100 s).

The rate limits are on, as in production (the test settings turn them off): they count in the
drill's Redis and fail open when it is down.

The outbox's own durations (``EMAIL_SENDING_TIMEOUT_SECONDS``, ``EMAIL_SWEEP_GRACE_SECONDS``, …)
are read from the environment by the base settings.
"""

from citreg.settings.test import *  # noqa: F403

DRILL_BEAT_SECONDS = env.float("DRILL_BEAT_SECONDS", default=2.0)  # noqa: F405
HOURLY = 3600.0
CELERY_BEAT_SCHEDULE = {  # noqa: F405
    name: {**entry, "schedule": DRILL_BEAT_SECONDS}
    if isinstance(entry["schedule"], int | float) and entry["schedule"] <= HOURLY
    else entry
    for name, entry in CELERY_BEAT_SCHEDULE.items()  # noqa: F405
}
CELERY_BROKER_TRANSPORT_OPTIONS = {  # noqa: F405
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "visibility_timeout": env.int("DRILL_VISIBILITY_TIMEOUT_SECONDS", default=10),  # noqa: F405
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
RATELIMIT_ENABLE = True
