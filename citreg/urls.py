"""Root URLs: the public catalogue, the admin and the health endpoint."""

from django.contrib import admin
from django.urls import include, path

from .health import healthz

admin.site.site_header = "citreg training administration"
admin.site.site_title = "citreg admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("registrations.urls")),
    path("", include("courses.urls")),
]
