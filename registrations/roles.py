"""Staff roles: the four groups and their permissions, and which fields of a registration each
permission shows (``docs/architecture.md``, "Security and privacy").

``migrate`` creates the groups (``sync_groups``, a ``post_migrate`` receiver) and sets each
group's permissions to exactly ``GROUPS``: running it again changes nothing, a permission added
here is added to the group on the next ``migrate``, and one given to a group by hand is taken
away again. Permissions outside the table (``view_accessibility_needs``, ``view_email_body``,
``erase_personal_data``, and anything the groups do not hold) are granted to named people, on
their own account.

Every admin page and action asks one of the permission names below; the field rule
(``registration_fields_visible``) is used for the change form, the list columns, search,
filters and ordering, so a field that is not shown cannot be guessed through a lookup either.
"""

import logging
from collections.abc import Iterable

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.db.models.signals import post_migrate

from courses.models import ALL_CLASSES, Offering
from registrations.models import Registration

logger = logging.getLogger("citreg.roles")

APP = "registrations"

# Custom permissions (``Registration.Meta.permissions``).
ISSUE_REFUND = f"{APP}.issue_refund"
LIST_AGENCY_DOMAIN = f"{APP}.list_agency_domain"
SEND_BROADCAST = f"{APP}.send_broadcast"
EXPORT_ROSTER = f"{APP}.export_roster"
VIEW_CONTACT_DETAILS = f"{APP}.view_contact_details"
VIEW_EMAIL_BODY = f"{APP}.view_email_body"
VIEW_ACCESSIBILITY_NEEDS = f"{APP}.view_accessibility_needs"
ERASE_PERSONAL_DATA = f"{APP}.erase_personal_data"
# Reviewing eligibility (approve, reject) from the review queue or the registration list: the
# change permission of the review-queue proxy. Viewing the queue is its view permission.
REVIEW = f"{APP}.change_registrationunderreview"
# Editing a registration's own fields (and seeing the attendee's course email, hold and notes).
CHANGE_REGISTRATION = f"{APP}.change_registration"

TRAINING_ADMINISTRATOR = "Training administrator"
ELIGIBILITY_REVIEWER = "Eligibility reviewer"
FINANCE = "Finance"
INSTRUCTOR = "Instructor"
# Taking attendance: marking, importing a participants report (and deciding its rows).
MARK_ATTENDANCE = f"{APP}.change_sessionattendance"
IMPORT_ATTENDANCE = f"{APP}.add_attendanceimport"
FINALISE_ATTENDANCE = f"{APP}.add_sessionfinalisation"
# Certificates: viewing and downloading them; revoking and reissuing (their only changes).
VIEW_CERTIFICATE = f"{APP}.view_certificate"
CHANGE_CERTIFICATE = f"{APP}.change_certificate"


def _model_permissions(app: str, model: str, actions: Iterable[str]) -> set[str]:
    return {f"{app}.{action}_{model}" for action in actions}


_ATTENDANCE = (
    _model_permissions(APP, "sessionattendance", ["view", "change"])
    | _model_permissions(APP, "attendanceimport", ["view", "add", "change"])
    | _model_permissions(APP, "importedparticipant", ["view", "change"])
)

# The roles table (README "Security and privacy"), one "app_label.codename" per permission.
GROUPS: dict[str, frozenset[str]] = {
    TRAINING_ADMINISTRATOR: frozenset(
        # Courses, offerings, sessions (add/change).
        _model_permissions("courses", "course", ["view", "add", "change"])
        | _model_permissions("courses", "offering", ["view", "add", "change"])
        | _model_permissions("courses", "session", ["view", "add", "change"])
        # Registrations (view/change) with their recorded history of states.
        | _model_permissions(APP, "registration", ["view", "change"])
        | {f"{APP}.view_registrationevent"}
        # The review actions.
        | _model_permissions(APP, "registrationunderreview", ["view", "change"])
        | {LIST_AGENCY_DOMAIN, f"{APP}.view_agencydomain"}
        | {SEND_BROADCAST, EXPORT_ROSTER, ISSUE_REFUND, VIEW_CONTACT_DETAILS}
        # Broadcasts, and the email log they are sent through (without bodies; "send again").
        | _model_permissions(APP, "broadcast", ["view", "add", "change", "delete"])
        | _model_permissions(APP, "outboundemail", ["view", "change"])
        # Policy pages.
        | _model_permissions(APP, "policypage", ["view", "add", "change"])
        # Attendance, and closing it (which completes registrations).
        | _ATTENDANCE
        | _model_permissions(APP, "sessionfinalisation", ["view", "add"])
        # Certificates: view and download; change = revoke and reissue (``CHANGE_CERTIFICATE``).
        | _model_permissions(APP, "certificate", ["view", "change"])
    ),
    ELIGIBILITY_REVIEWER: frozenset(
        {f"{APP}.view_registration"}
        | _model_permissions(APP, "registrationunderreview", ["view", "change"])
    ),
    FINANCE: frozenset(
        {f"{APP}.view_registration", f"{APP}.view_payment", f"{APP}.view_refund"}
        | {ISSUE_REFUND, EXPORT_ROSTER}
    ),
    # The classes assigned to them only (``limited_to_assigned_classes``): their roster (names,
    # agency, attendance; no payments, no accessibility needs unless granted), attendance and
    # reports, and the meeting link.
    INSTRUCTOR: frozenset(
        _model_permissions("courses", "offering", ["view", "change"])
        | {"courses.view_session", f"{APP}.view_registration"}
        | _ATTENDANCE
    ),
}


def limited_to_assigned_classes(user: PermissionsMixin | AnonymousUser) -> bool:
    """True for staff who see only the classes they are assigned to (``Offering.instructors``):
    everyone without ``ALL_CLASSES`` (the Instructor group). Superusers and training
    administrators see every class."""
    return not user.has_perm(ALL_CLASSES)


def may_see_offering(user: PermissionsMixin | AnonymousUser, offering: Offering) -> bool:
    """Whether ``user`` may open ``offering``'s pages (roster, attendance): every class for
    those not ``limited_to_assigned_classes``, else only the ones they teach."""
    if not limited_to_assigned_classes(user):
        return True
    user_id = getattr(user, "pk", None)
    return user_id is not None and offering.instructors.filter(pk=user_id).exists()


# Which permission shows each field of a registration; None: whoever may see registrations at
# all (Finance's "name, agency, state"). A field missing here (a new one) needs
# ``CHANGE_REGISTRATION``, so a new field is never shown to more people than the attendee's own
# details are.
BASIC = None
REGISTRATION_FIELD_PERMISSIONS: dict[str, str | None] = {
    "id": BASIC,
    "offering": BASIC,
    "state": BASIC,
    "first_name": BASIC,
    "last_name": BASIC,
    "employer_name": BASIC,
    "employer_city": BASIC,
    "employer_state": BASIC,
    "created_at": BASIC,
    # Eligibility details: shown to whoever may review.
    "role": REVIEW,
    "work_email": REVIEW,
    "work_email_confirmed_at": REVIEW,
    "supervisor_name": REVIEW,
    "supervisor_email": REVIEW,
    "supervisor_confirmed_at": REVIEW,
    "attested_at": REVIEW,
    "phone": VIEW_CONTACT_DETAILS,
    "accessibility_needs": VIEW_ACCESSIBILITY_NEEDS,
}


def registration_field_permission(name: str) -> str | None:
    """The permission that shows the registration field ``name`` (None: any viewer)."""
    return REGISTRATION_FIELD_PERMISSIONS.get(name, CHANGE_REGISTRATION)


def registration_fields_visible(user: PermissionsMixin | AnonymousUser) -> frozenset[str]:
    """The names of the registration fields ``user`` may see (``REGISTRATION_FIELD_PERMISSIONS``).

    Only the field rule: whether the user may see registrations at all is the admin's
    ordinary view permission.
    """
    names = (field.name for field in Registration._meta.concrete_fields)
    return frozenset(
        name
        for name in names
        if (needed := registration_field_permission(name)) is None or user.has_perm(needed)
    )


def _split(permission: str) -> tuple[str, str]:
    app_label, _, codename = permission.partition(".")
    return app_label, codename


def sync_groups(*, using: str = DEFAULT_DB_ALIAS, apps=global_apps) -> dict[str, int]:
    """Create the groups of ``GROUPS`` and set each one's permissions to exactly its row.

    Idempotent. A permission named in the table that does not exist (a model not migrated yet)
    is logged and left out; the next ``migrate`` adds it.

    Args:
        using: the database alias.
        apps: the app registry (``post_migrate`` passes the migrated state's).

    Returns: the number of permissions each group holds now, by group name.
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    needed = set().union(*GROUPS.values())
    query = Q(pk__in=[])
    for permission in needed:
        app_label, codename = _split(permission)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.using(using)
        .filter(query)
        .values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(needed - found.keys())
    if missing:
        logger.warning("roles.missing_permissions %s", " ".join(missing))
    counts = {}
    with transaction.atomic(using=using):
        for name, permissions in GROUPS.items():
            group, _ = group_model.objects.using(using).get_or_create(name=name)
            wanted = {found[p] for p in permissions if p in found}
            group.permissions.set(wanted)
            counts[name] = len(wanted)
    return counts


def sync_groups_on_migrate(sender, *, using: str = DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """``post_migrate`` receiver: after this app's migrations, make sure the permissions of the
    apps the table names exist (Django creates them in this same signal), then ``sync_groups``."""
    if getattr(sender, "label", None) != APP:
        return
    for label in sorted({_split(p)[0] for p in set().union(*GROUPS.values())}):
        try:
            config = global_apps.get_app_config(label)
        except LookupError:
            continue
        create_permissions(config, verbosity=0, using=using, apps=apps)
    sync_groups(using=using, apps=apps)


post_migrate.connect(sync_groups_on_migrate, dispatch_uid="registrations.roles.sync_groups")
