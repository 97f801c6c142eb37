"""The Celery app: configuration from Django settings (namespace ``CELERY_``), tasks autodiscovered
from each installed app's ``tasks.py``. Start a worker with ``celery -A citreg worker``.

Refuses to start without ``DJANGO_SETTINGS_MODULE`` unless ``DEBUG`` is explicitly true
(``citreg.startup``). Importing the ``citreg`` package imports this module, so every process that
loads citreg's code makes the same choice.
"""

import os

from celery import Celery

from citreg.startup import choose_settings_module

choose_settings_module()

app = Celery("citreg")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


FILESYSTEM_BROKER_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "incoming_folder",
    "processed_folder",
    "control_folder",
)


@app.on_after_configure.connect
def _ensure_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    """Create the folders the filesystem broker (``citreg.filesystem_broker``) reads and writes,
    named in ``CELERY_BROKER_TRANSPORT_OPTIONS`` (the default run without Redis)."""
    options = sender.conf.broker_transport_options or {}
    for key in FILESYSTEM_BROKER_FOLDERS:
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
