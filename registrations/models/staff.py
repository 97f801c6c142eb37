"""The audit history of staff accounts: who was put in or taken out of which group, and when.

The user model is Django's own (``auth.User``; citreg has no custom one). Its history table
lives in this app (``simple_history.register``); passwords and login times are left out.
"""

from django.contrib.auth.models import User
from simple_history import register

register(
    User,
    app="registrations",
    m2m_fields=["groups"],
    excluded_fields=["password", "last_login"],
)
