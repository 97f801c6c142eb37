"""Django's admin app, configured with citreg's admin site (``citreg.admin_site``)."""

import logging

from django.conf import settings
from django.contrib.admin.apps import AdminConfig

logger = logging.getLogger("citreg.staff_sign_in")

TWO_FACTOR_OFF_WARNING = (
    "Staff two-factor sign-in is OFF (STAFF_2FA_REQUIRED=False): the admin opens with a "
    "password alone. Only for tests and local development; production settings force it on."
)


class StaffAdminConfig(AdminConfig):
    """``django.contrib.admin`` with :class:`citreg.admin_site.StaffAdminSite` as ``admin.site``."""

    default_site = "citreg.admin_site.StaffAdminSite"

    def ready(self) -> None:
        """Discover the admin modules, then say at start when staff 2FA is switched off."""
        super().ready()
        if not settings.STAFF_2FA_REQUIRED:
            logger.warning(TWO_FACTOR_OFF_WARNING)
