"""Create (once) a local superuser for the default run and print its login.

The password is generated on first use and kept in ``var/local-admin.txt`` (git-ignored), so the
same login works on every ``make run``. The account is a superuser and a member of the Training
administrator group (``registrations.roles``), so the roles' pages can be tried with it. Local
development only.
"""

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citreg.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402

from registrations import roles  # noqa: E402

USERNAME = "admin"
SECRET_FILE = ROOT / "var" / "local-admin.txt"


def main() -> None:
    """Ensure the ``admin`` superuser exists with the stored password and belongs to the
    Training administrator group (created first if ``migrate`` has not); print the login."""
    SECRET_FILE.parent.mkdir(exist_ok=True)
    if not SECRET_FILE.exists():
        SECRET_FILE.write_text(secrets.token_urlsafe(12))
        SECRET_FILE.chmod(0o600)
    password = SECRET_FILE.read_text().strip()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=USERNAME, defaults={"email": "admin@citreg.localhost"}
    )
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    if not Group.objects.filter(name=roles.TRAINING_ADMINISTRATOR).exists():
        roles.sync_groups()
    user.groups.add(Group.objects.get(name=roles.TRAINING_ADMINISTRATOR))
    site = settings.SITE_URL
    if os.environ.get("CITREG_PORT") and site == "http://127.0.0.1:8000":  # the default: follow
        site = f"http://127.0.0.1:{os.environ['CITREG_PORT']}"  # `make run CITREG_PORT=…`
    print(
        f"Admin: {site}/admin/  user: {USERNAME}  password: {password}  "
        f"(superuser, {roles.TRAINING_ADMINISTRATOR})"
    )


if __name__ == "__main__":
    main()
