"""Test settings: PostgreSQL and Redis from DATABASE_URL / REDIS_URL (``make test`` sets them),
fast password hashing, in-memory email outbox."""

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests that need real delivery run a worker process with EMAIL_URL pointing at a local SMTP server.
MAILERS = {"default": mailer_from_url(env("EMAIL_URL", default="memorymail://"))}  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
RATELIMIT_ENABLE = False  # Tests that check the limits turn it on (and clear the cache).
# django-axes: tests sign in with force_login or the test client; the lockout tests turn it on.
AXES_ENABLED = False
