#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    """Run a management command; settings default to the development module."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citreg.settings.base")
    from django.core.management import (  # noqa: PLC0415 -- after choosing the settings
        execute_from_command_line,
    )

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
