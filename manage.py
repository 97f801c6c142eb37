#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import sys

from django.core.exceptions import ImproperlyConfigured


def main() -> None:
    """Run a management command with an explicit settings module (``citreg.startup``).

    Exits with status 2 and the reason on stderr when no settings module is given and ``DEBUG``
    is not explicitly true.
    """
    try:
        # Importing the citreg package loads its Celery app, which makes the same choice.
        from citreg.startup import choose_settings_module  # noqa: PLC0415 -- inside the try

        choose_settings_module()
    except ImproperlyConfigured as refusal:
        print(f"manage.py: {refusal}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import (  # noqa: PLC0415 -- after choosing the settings
        execute_from_command_line,
    )

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
