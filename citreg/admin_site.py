"""The admin site: staff two-factor sign-in (README "Security and privacy").

``citreg.apps.StaffAdminConfig`` makes :class:`StaffAdminSite` Django's default admin site, so
``admin.site`` and every ``@admin.register`` use it. With ``STAFF_2FA_REQUIRED`` (production
forces it on) a staff user opens the admin only when verified by an OTP device in this session:

- not signed in: sent to the two-factor login (``/account/login/``: password, then a code from
  the authenticator app or a backup code);
- signed in with a password but no device yet (a new staff member): sent to set one up
  (``/account/two_factor/setup/``), after which the admin opens;
- signed in but not verified, with a device: sent to the two-factor login again.

The admin's own password-only login form is then never shown. With the setting off (tests,
``make run``) the admin is Django's usual one. Either way sign-ins go through django-axes.

The site knows no app. Apps add to it through two registries, called when their admin module is
imported: ``register_view`` (a page of its own under ``/admin/``, behind the same sign-in) and
``register_index_context`` (what the index page shows above the list of models: the training
office's dashboard, ``registrations.admin.dashboard``).
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from two_factor.utils import default_device


class StaffAdminSite(AdminSite):
    """Django's admin site, requiring a verified OTP device when ``STAFF_2FA_REQUIRED`` is on."""

    site_header = "citreg training administration"
    site_title = "citreg admin"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self._views: list[tuple[str, Callable[..., HttpResponse], str]] = []
        self._index_context: list[Callable[[HttpRequest], dict]] = []

    def register_view(self, route: str, view: Callable[..., HttpResponse], name: str) -> None:
        """Serve ``view`` at ``/admin/<route>`` (a ``django.urls.path`` route) as
        ``admin:<name>``, behind the site's sign-in (``admin_view``: staff, and the OTP device
        when required). The view checks its own permissions. Routes are matched before the
        models' pages, so ``courses/offering/<int:offering_id>/roster/`` is not taken for an
        object id."""
        self._views.append((route, view, name))

    def register_index_context(self, provider: Callable[[HttpRequest], dict]) -> None:
        """Add ``provider(request)``'s keys to the index page's context (a dict; empty to add
        nothing for that user)."""
        self._index_context.append(provider)

    def get_urls(self) -> list:
        """The registered views (``register_view``), then Django's admin URLs."""
        own: list[URLPattern] = [
            path(route, self.admin_view(view), name=name) for route, view, name in self._views
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Django's index with what the registered providers add (``register_index_context``)."""
        context = dict(extra_context or {})
        for provider in self._index_context:
            context.update(provider(request))
        return super().index(request, context)

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff (Django's rule) and, when 2FA is required, verified by a device."""
        if not super().has_permission(request):
            return False
        return not settings.STAFF_2FA_REQUIRED or request.user.is_verified()

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Where the admin sends someone who may not open it yet.

        With 2FA off: Django's admin login. With 2FA on: the admin when already allowed; the
        device setup for a signed-in staff user without a device; 403 for a signed-in user who is
        not staff; the two-factor login otherwise (with ``next`` kept when it is safe).
        """
        if not settings.STAFF_2FA_REQUIRED:
            return super().login(request, extra_context)
        next_url = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        user = request.user
        if self.has_permission(request):
            return redirect(next_url)
        if user.is_authenticated and not (user.is_active and user.is_staff):
            raise PermissionDenied("This account may not use the administration.")
        # two_factor asks for a code only from the device named "default", the one its setup
        # creates; without one the login cannot verify, so set one up.
        if user.is_authenticated and not default_device(user):
            return redirect("two_factor:setup")
        return redirect_to_login(next_url)
