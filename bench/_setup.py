"""Shared set-up for bench scripts: a throwaway PostgreSQL database, migrated and emptied."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/citreg_bench"


def django_with_fresh_database(database_url: str = DEFAULT_DATABASE, **env: str) -> None:
    """Create the database if needed, set up Django with test settings, migrate, flush and load
    the default course."""
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(DJANGO_SETTINGS_MODULE="citreg.settings.test", DATABASE_URL=database_url,
                      **env)  # fmt: skip
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    call_command("loaddata", "default_course", verbosity=0)
