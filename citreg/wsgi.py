"""WSGI entry point (``gunicorn --config citreg/gunicorn.conf.py citreg.wsgi``).

Refuses to start without ``DJANGO_SETTINGS_MODULE`` unless ``DEBUG`` is explicitly true
(``citreg.startup``).
"""

from django.core.wsgi import get_wsgi_application

from citreg.startup import choose_settings_module

choose_settings_module()
application = get_wsgi_application()
