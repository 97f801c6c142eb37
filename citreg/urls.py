"""Root URLs: the public catalogue, the admin, staff sign-in and the health endpoint.

Staff sign-in (django-two-factor-auth) lives under ``/account/``: ``login/`` (password, then a
code), ``two_factor/setup/`` (add an authenticator app), ``two_factor/backup/tokens/`` (backup
codes), ``two_factor/`` (the account's security page). ``citreg.admin_site`` sends staff there.
"""

from django.contrib import admin
from django.urls import include, path
from two_factor.urls import urlpatterns as two_factor_urls

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include(two_factor_urls)),
    path("", include("registrations.urls")),
    path("", include("courses.urls")),
]
