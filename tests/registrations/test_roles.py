"""``registrations.roles``: ``migrate`` makes the four groups with exactly the permissions of
the roles table, idempotently; which registration fields each role sees."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from registrations import roles
from registrations.models import Registration


def perms(*names: str) -> set[str]:
    return set(names)


def model(app: str, name: str, *actions: str) -> set[str]:
    return {f"{app}.{action}_{name}" for action in actions}


ATTENDANCE = (
    model("registrations", "sessionattendance", "view", "change")
    | model("registrations", "attendanceimport", "view", "add", "change")
    | model("registrations", "importedparticipant", "view", "change")
)
# The roles table (README), written out here independently of the module.
EXPECTED = {
    "Training administrator": (
        model("courses", "course", "view", "add", "change")
        | model("courses", "offering", "view", "add", "change")
        | model("courses", "session", "view", "add", "change")
        | model("registrations", "registration", "view", "change")
        | model("registrations", "registrationevent", "view")
        | model("registrations", "registrationunderreview", "view", "change")
        | model("registrations", "agencydomain", "view")
        | model("registrations", "broadcast", "view", "add", "change", "delete")
        | model("registrations", "outboundemail", "view", "change")
        | model("registrations", "policypage", "view", "add", "change")
        | ATTENDANCE
        | model("registrations", "sessionfinalisation", "view", "add")
        | model("registrations", "certificate", "view", "change")
        | perms(
            "registrations.list_agency_domain",
            "registrations.send_broadcast",
            "registrations.export_roster",
            "registrations.issue_refund",
            "registrations.view_contact_details",
        )  # fmt: skip
    ),
    "Eligibility reviewer": (
        model("registrations", "registration", "view")
        | model("registrations", "registrationunderreview", "view", "change")
    ),
    "Finance": (
        model("registrations", "registration", "view")
        | model("registrations", "payment", "view")
        | model("registrations", "refund", "view")
        | perms("registrations.issue_refund", "registrations.export_roster")
    ),
    "Instructor": (
        model("courses", "offering", "view", "change")
        | model("courses", "session", "view")
        | model("registrations", "registration", "view")
        | ATTENDANCE
    ),
}
NAMED_PEOPLE_ONLY = {
    "registrations.view_accessibility_needs",
    "registrations.view_email_body",
    "registrations.erase_personal_data",
}


def held() -> dict[str, set[str]]:
    return {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.filter(name__in=EXPECTED)
    }


@pytest.mark.django_db
def test_migrate_twice_gives_each_group_exactly_its_row():
    extra = Permission.objects.get(codename="delete_registration")
    reviewer = Group.objects.get(name="Eligibility reviewer")
    reviewer.permissions.add(extra)  # given by hand: taken away again
    Group.objects.get(name="Finance").permissions.clear()  # lost: given back
    Group.objects.filter(name="Training administrator").delete()  # gone: made again
    call_command("migrate", verbosity=0)
    first = held()
    call_command("migrate", verbosity=0)
    assert held() == first == EXPECTED
    assert Group.objects.filter(name__in=EXPECTED).count() == 4
    assert not NAMED_PEOPLE_ONLY & set().union(*first.values())


@pytest.mark.django_db
def test_a_permission_added_to_the_table_is_added_on_the_next_migrate(monkeypatch):
    grown = {**roles.GROUPS}
    grown["Finance"] = grown["Finance"] | {"registrations.view_refundpolicy"}
    monkeypatch.setattr(roles, "GROUPS", grown)
    config = apps.get_app_config("registrations")
    roles.sync_groups_on_migrate(config)
    roles.sync_groups_on_migrate(config)
    assert held()["Finance"] == EXPECTED["Finance"] | {"registrations.view_refundpolicy"}


@pytest.mark.django_db
def test_a_permission_that_does_not_exist_is_logged_and_left_out(monkeypatch, caplog):
    monkeypatch.setattr(roles, "GROUPS", {"Finance": frozenset({"registrations.fly_away"})})
    assert roles.sync_groups() == {"Finance": 0}
    assert "registrations.fly_away" in caplog.text


@pytest.mark.django_db
def test_which_fields_each_role_sees(django_user_model):
    def fields_of(group: str | None, *extra: str) -> frozenset[str]:
        user = django_user_model.objects.create_user(f"u{django_user_model.objects.count()}")
        if group:
            user.groups.add(Group.objects.get(name=group))
        for name in extra:
            user.user_permissions.add(Permission.objects.get(codename=name.split(".")[1]))
        return roles.registration_fields_visible(django_user_model.objects.get(pk=user.pk))

    basic = {"id", "offering", "state", "first_name", "last_name", "employer_name",
             "employer_city", "employer_state", "created_at"}  # fmt: skip
    eligibility = {"role", "work_email", "work_email_confirmed_at", "supervisor_name",
                   "supervisor_email", "supervisor_confirmed_at", "attested_at"}  # fmt: skip
    everything = {field.name for field in Registration._meta.concrete_fields}
    assert fields_of("Finance") == basic
    assert fields_of("Eligibility reviewer") == basic | eligibility
    assert fields_of("Training administrator") == everything - {"accessibility_needs"}
    assert fields_of(None, roles.VIEW_ACCESSIBILITY_NEEDS) == basic | {"accessibility_needs"}
    assert fields_of(None) == basic  # a page that shows registrations at all shows these
