"""``citreg.admin_site``: staff two-factor sign-in, and the sign-in lockout (django-axes) through
the real login views."""

from base64 import b32decode
from binascii import unhexlify

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # noqa: S105
LOGIN = "/account/login/"


@pytest.fixture
def staff() -> User:
    return User.objects.create_user("trainer", password=PASSWORD, is_staff=True)


@pytest.fixture
def two_factor(settings):
    settings.STAFF_2FA_REQUIRED = True


@pytest.fixture
def axes_on(settings):
    settings.AXES_ENABLED = True
    AccessAttempt.objects.all().delete()
    AccessFailureLog.objects.all().delete()


def password_step(client: Client, username: str, password: str, next_url: str = "/admin/"):
    return client.post(
        f"{LOGIN}?next={next_url}",
        {"login_view-current_step": "auth", "auth-username": username, "auth-password": password},
    )


def current_totp(device: TOTPDevice) -> str:
    return f"{totp(unhexlify(device.key), step=device.step, digits=device.digits):06d}"


def admin_login(client: Client, username: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


# --- two-factor sign-in ------------------------------------------------------------------------


def test_off_in_tests_and_the_default_run_the_admin_takes_a_password(client, staff):
    response = admin_login(client, "trainer", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_required_the_admin_sends_an_anonymous_visitor_to_the_two_factor_login(client, two_factor):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain == [
        ("/admin/login/?next=/admin/", 302),
        (f"{LOGIN}?next=/admin/", 302),
    ]
    assert "Staff sign-in" in response.content.decode()
    # The admin's own password-only form is never shown, nor does it take a password.
    assert client.get("/admin/login/")["Location"] == f"{LOGIN}?next=/admin/"


def test_required_the_admin_login_does_not_sign_in_with_a_password(client, staff, two_factor):
    response = admin_login(client, "trainer", PASSWORD)
    assert response["Location"] == f"{LOGIN}?next=/admin/"
    assert "_auth_user_id" not in client.session


def test_required_staff_without_a_device_cannot_open_the_admin_and_is_sent_to_setup(
    client, staff, two_factor
):
    response = password_step(client, "trainer", PASSWORD)
    assert response.status_code == 302  # signed in with the password: no device to ask
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1] == ("/account/two_factor/setup/", 302)
    assert client.get("/admin/registrations/registration/").status_code == 302
    # A session signed in some other way (a password alone) is no better.
    other = Client()
    other.force_login(staff)
    assert other.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert other.get("/admin/login/?next=/admin/")["Location"] == "/account/two_factor/setup/"


def test_a_new_staff_member_sets_up_an_authenticator_and_backup_codes(client, staff, two_factor):
    password_step(client, "trainer", PASSWORD)
    assert client.get("/account/two_factor/setup/").status_code == 200
    response = client.post("/account/two_factor/setup/", {"setup_view-current_step": "welcome"})
    page = response.content.decode()
    assert "scan this QR code" in page
    key = b32decode(client.session["django_two_factor-qr_secret_key"])
    assert client.get("/account/two_factor/qrcode/")["Content-Type"].startswith("image/svg")
    response = client.post(
        "/account/two_factor/setup/",
        {"setup_view-current_step": "generator", "generator-token": f"{totp(key):06d}"},
    )
    assert response["Location"] == "/account/two_factor/setup/complete/"
    assert "Get backup codes" in client.get(response["Location"]).content.decode()
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed and unhexlify(device.key) == key
    # Verified by the new device in this session: the admin opens.
    assert client.get("/admin/").status_code == 200
    client.post("/account/two_factor/backup/tokens/")
    assert StaticToken.objects.filter(device__user=staff).count() == 10


def test_sign_in_with_password_then_authenticator_code(client, staff, two_factor):
    # RFC 6238's test key at a fixed time, so the wrong code below is never a valid one.
    device = TOTPDevice.objects.create(
        user=staff, name="default", confirmed=True, key="3132333435363738393031323334353637383930"
    )

    def give(code: str):
        return client.post(
            f"{LOGIN}?next=/admin/", {"login_view-current_step": "token", "token-otp_token": code}
        )

    with time_machine.travel("2027-03-01 09:00 -0700", tick=False) as clock:
        response = password_step(client, "trainer", PASSWORD)
        assert response.status_code == 200
        assert 'name="token-otp_token"' in response.content.decode()
        assert client.get("/admin/").status_code == 302  # not signed in until the code is given
        wrong = give(f"{(int(current_totp(device)) + 1) % 1_000_000:06d}")
        assert wrong.status_code == 200 and "_auth_user_id" not in client.session
        # django-otp throttles guessing: after a wrong code even the right one waits a moment.
        assert give(current_totp(device)).status_code == 200
        clock.shift(5)
        response = give(current_totp(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_sign_in_with_a_backup_code_which_works_once(client, staff, two_factor):
    TOTPDevice.objects.create(user=staff, name="default", confirmed=True)
    backup = StaticDevice.objects.create(user=staff, name="backup")
    backup.token_set.create(token="rescue12")
    page = password_step(client, "trainer", PASSWORD).content.decode()
    assert "Use a backup code" in page
    client.post(LOGIN, {"wizard_goto_step": "backup"})
    response = client.post(
        f"{LOGIN}?next=/admin/",
        {"login_view-current_step": "backup", "backup-otp_token": "rescue12"},
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert not backup.token_set.exists()  # used up

    again = Client()
    password_step(again, "trainer", PASSWORD)
    again.post(LOGIN, {"wizard_goto_step": "backup"})
    refused = again.post(
        LOGIN, {"login_view-current_step": "backup", "backup-otp_token": "rescue12"}
    )
    assert refused.status_code == 200
    assert again.get("/admin/").status_code == 302


def test_required_a_signed_in_user_who_is_not_staff_is_refused(client, two_factor):
    user = User.objects.create_user("someone", password=PASSWORD)
    client.force_login(user)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


# --- lockout (django-axes) ---------------------------------------------------------------------


@pytest.mark.parametrize("view", ["admin login (2FA off)", "two-factor login"])
def test_lockout_after_five_failures_even_the_right_password_is_refused(
    client, staff, settings, axes_on, view
):
    if view == "two-factor login":
        settings.STAFF_2FA_REQUIRED = True
        attempt = password_step
    else:
        attempt = admin_login
    for _ in range(4):
        response = attempt(client, "trainer", "wrong password")
        assert response.status_code == 200  # the form again, with its error
    locked = attempt(client, "trainer", "wrong password")
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert locked["Retry-After"] == "1800"

    refused = attempt(client, "trainer", PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # The failures are logged, by username and client address.
    record = AccessAttempt.objects.get(username="trainer", ip_address="127.0.0.1")
    assert record.failures_since_start == 5
    assert AccessFailureLog.objects.filter(username="trainer", locked_out=True).exists()
    assert AccessFailureLog.objects.filter(username="trainer").count() >= 5


def test_lockout_ends_after_the_cool_off_and_success_resets_the_count(client, staff, axes_on):
    with time_machine.travel("2027-03-01 09:00 -0700", tick=False) as clock:
        for _ in range(5):
            admin_login(client, "trainer", "wrong password")
        assert admin_login(client, "trainer", PASSWORD).status_code == 429
        clock.shift(29 * 60)
        assert admin_login(client, "trainer", PASSWORD).status_code == 429
        clock.shift(2 * 60)
        assert admin_login(client, "trainer", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="trainer").exists()


def test_lockout_is_per_username_and_address(client, staff, axes_on):
    for _ in range(5):
        admin_login(client, "trainer", "wrong password")
    # The same staff member from another address is not locked out by someone else's guesses.
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert admin_login(elsewhere, "trainer", PASSWORD).status_code == 302


def test_behind_a_proxy_forwarded_clients_are_locked_out_separately(staff, settings, axes_on):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    guesser = Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.1")
    colleague = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    for _ in range(5):
        admin_login(guesser, "trainer", "wrong password")
    assert admin_login(guesser, "trainer", PASSWORD).status_code == 429
    assert admin_login(colleague, "trainer", PASSWORD).status_code == 302
    # Recorded under the address the proxy saw, not the one the client wrote.
    assert AccessAttempt.objects.get().ip_address == "198.51.100.1"


def test_without_the_proxy_setting_everyone_behind_it_shares_one_address(staff, axes_on):
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    guesser = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    colleague = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    for _ in range(5):
        admin_login(guesser, "trainer", "wrong password")
    assert admin_login(colleague, "trainer", PASSWORD).status_code == 429


def test_superusers_see_the_failure_log_in_the_admin(admin_client, staff, axes_on):
    admin_login(Client(), "trainer", "wrong password")
    for url in ("/admin/axes/accessattempt/", "/admin/axes/accessfailurelog/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert "trainer" in response.content.decode()
    trainer = Client()
    trainer.force_login(staff)
    assert trainer.get("/admin/axes/accessfailurelog/").status_code == 403
