"""ASGI entry point.

Refuses to start without ``DJANGO_SETTINGS_MODULE`` unless ``DEBUG`` is explicitly true
(``citreg.startup``).
"""

from django.core.asgi import get_asgi_application

from citreg.startup import choose_settings_module

choose_settings_module()
application = get_asgi_application()
