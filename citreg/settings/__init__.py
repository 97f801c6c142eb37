"""Settings modules: ``base`` (development defaults), ``production``, ``test``."""
