"""Test settings: PostgreSQL and Redis from DATABASE_URL / REDIS_URL (``make test`` sets them),
fast password hashing, in-memory email outbox."""

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
