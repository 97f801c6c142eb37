"""Staff accounts for the admin's tests: members of the role groups (``registrations.roles``),
or holders of named permissions, signed in to their own test client."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from registrations.models import Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import RegistrationFactory


def permission(name: str) -> Permission:
    """The permission "app_label.codename"."""
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def staff(django_user_model):
    """``staff(name, groups=[...], perms=[...])``: a staff account in those groups with those
    permissions, and a test client signed in as it (``client.user`` is the account)."""

    def make(name: str, *, groups=(), perms=()) -> Client:
        user = django_user_model.objects.create_user(name, password="x", is_staff=True)
        user.groups.add(*(Group.objects.get(name=group) for group in groups))
        user.user_permissions.add(*(permission(p) for p in perms))
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


def under_review(offering, **fields) -> Registration:
    """A registration in the review queue, its work email confirmed."""
    registration = RegistrationFactory(
        offering=offering, work_email_confirmed_at=timezone.now(), **fields
    )
    registration_transition(
        registration_id=registration.pk, to_state="pending_review", actor=Actor.system()
    )
    return Registration.objects.get(pk=registration.pk)
