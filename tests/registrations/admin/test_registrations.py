"""``registrations.admin.registrations``: every action needs its own permission, from the
registration list and the review queue alike; each field needs the permission the field rule
names (``registrations.roles``), also for filters, search, ordering and the history; viewing
accessibility needs and exporting a roster are recorded; staff cannot correct an email onto
another registration's address."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.forms import modelform_factory
from django.test import Client
from django.utils import timezone

from courses.models import Offering
from registrations import roles
from registrations.admin.registrations import RegistrationAdminForm
from registrations.models import AgencyDomain, Broadcast, Registration, StaffAccess
from tests.factories import registration_in
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible

from .conftest import under_review

S = Registration.State
LIST = "/admin/registrations/registration/"
QUEUE = "/admin/registrations/registrationunderreview/"
VIEW_BOTH = ["registrations.view_registration", "registrations.view_registrationunderreview"]

# Each action and the permissions it needs (all of them).
ACTIONS = {
    "approve": [roles.REVIEW],
    "approve_and_list_domain": [roles.REVIEW, roles.LIST_AGENCY_DOMAIN],
    "reject": [roles.REVIEW],
    "cancel_and_refund": [roles.ISSUE_REFUND],
    "refund_only": [roles.ISSUE_REFUND],
    "email_selected": [roles.SEND_BROADCAST, "registrations.add_broadcast"],
    "export_roster": [roles.EXPORT_ROSTER],
    "export_roster_xlsx": [roles.EXPORT_ROSTER],
}
EVERY_ACTION_PERMISSION = sorted({p for needed in ACTIONS.values() for p in needed})
# POST data that makes each action act at once (no intermediate form).
ACTION_DATA = {
    "reject": {"reason": "Not a 911 center."},
    "cancel_and_refund": {"apply": "1", "reason": "Asked to.", "amount_cents": ""},
    "refund_only": {"apply": "1", "reason": "Asked to.", "amount_cents": ""},
}


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def action_choices(client: Client, url: str) -> set[str]:
    page = client.get(url)
    assert page.status_code == 200
    return {name for name, _ in page.context["action_form"].fields["action"].choices if name}


def the_person(offering, **fields) -> Registration:
    """A registration under review with a distinct value in every sensitive field."""
    values = {
        "first_name": "Ana",
        "last_name": "Quintero",
        "email": "ana.course@example.org",
        "phone": "303-555-0199",
        "work_email": "ana.work@denver911.gov",
        "supervisor_name": "Sam Overseer",
        "supervisor_email": "sam.overseer@denver911.gov",
        "employer_name": "Denver 911 Communications",
        "accessibility_needs": "Captions for every session",
        **fields,
    }
    return under_review(offering, **values)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, QUEUE])
@pytest.mark.parametrize(
    ("action", "missing"),
    [(action, permission) for action, needed in ACTIONS.items() for permission in needed],
)
def test_each_action_refuses_a_user_without_its_permission(
    staff, offering, url, action, missing, django_capture_on_commit_callbacks
):
    registration = the_person(offering)
    perms = [*VIEW_BOTH, *(p for p in EVERY_ACTION_PERMISSION if p != missing)]
    without = staff("without", perms=perms)
    assert action not in action_choices(without, url)
    data = {"action": action, "_selected_action": [registration.pk], **ACTION_DATA.get(action, {})}
    with django_capture_on_commit_callbacks(execute=True):
        response = without.post(url, data, follow=True)
    assert response.status_code == 200
    assert "No action selected." in response.content.decode()
    assert response.get("Content-Type", "").startswith("text/html")  # no CSV, no redirect away
    registration.refresh_from_db()
    assert registration.state == S.PENDING_REVIEW
    assert not AgencyDomain.objects.exists() and not Broadcast.objects.exists()
    assert not StaffAccess.objects.exists()

    holder = staff("holder", perms=[*VIEW_BOTH, *ACTIONS[action]])
    assert action in action_choices(holder, url)


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, QUEUE])
def test_a_reviewer_approves_and_rejects_from_both_lists(staff, offering, url):
    ana, ben = the_person(offering), the_person(offering, email="ben@example.org")
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    assert action_choices(reviewer, url) == {"approve", "reject"}
    reviewer.post(url, {"action": "approve", "_selected_action": [ana.pk]})
    reviewer.post(
        url, {"action": "reject", "_selected_action": [ben.pk], "reason": "Not a 911 center."}
    )
    assert Registration.objects.get(pk=ana.pk).state == S.ELIGIBLE
    assert Registration.objects.get(pk=ben.pk).state == S.REJECTED


@pytest.mark.django_db
def test_each_group_has_the_actions_of_its_row(staff, offering):
    the_person(offering)
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    # Transferring and substituting need change on registrations, on the registration list
    # only (tests/registrations/changes/test_transfer_pages.py, test_substitution_pages.py).
    assert action_choices(admin, LIST) == {
        *ACTIONS,
        "transfer_to_another_class",
        "substitute_a_colleague",
    }
    finance = staff("finance", groups=[roles.FINANCE])
    assert action_choices(finance, LIST) == {
        "cancel_and_refund", "refund_only", "export_roster", "export_roster_xlsx",
    }  # fmt: skip
    assert finance.get(QUEUE).status_code == 403  # the review queue is not finance's


@pytest.mark.django_db
@pytest.mark.parametrize("url", [LIST, QUEUE])
@pytest.mark.parametrize(
    ("lookup", "needed"),
    [
        ("accessibility_needs__startswith=C", roles.VIEW_ACCESSIBILITY_NEEDS),
        ("accessibility_needs__icontains=caption", roles.VIEW_ACCESSIBILITY_NEEDS),
        ("accessibility_needs=Captions for every session", roles.VIEW_ACCESSIBILITY_NEEDS),
        ("phone__contains=0199", roles.VIEW_CONTACT_DETAILS),
        ("phone__startswith=3", roles.VIEW_CONTACT_DETAILS),
        ("supervisor_email__startswith=sam", roles.REVIEW),
        ("email__startswith=ana", roles.CHANGE_REGISTRATION),
    ],
)
def test_a_hidden_field_cannot_be_used_as_a_filter(staff, offering, url, lookup, needed):
    the_person(offering)
    without = staff("without", perms=VIEW_BOTH)
    assert without.get(f"{url}?{lookup}").status_code == 400
    holder = staff("holder", perms=[*VIEW_BOTH, needed])
    page = holder.get(f"{url}?{lookup}")
    assert page.status_code == 200 and page.context["cl"].result_count == 1


@pytest.mark.django_db
def test_a_hidden_field_is_not_searched(staff, offering):
    the_person(offering)
    the_person(offering, email="ben@example.org", phone="", accessibility_needs="")
    without = staff("without", groups=[roles.FINANCE])
    assert without.get(f"{LIST}?q=0199").context["cl"].result_count == 0
    assert without.get(f"{LIST}?q=ana.course").context["cl"].result_count == 0
    assert without.get(f"{LIST}?q=Quintero").context["cl"].result_count == 2  # the name: shown
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    assert admin.get(f"{LIST}?q=0199").context["cl"].result_count == 1
    assert admin.get(f"{LIST}?q=ana.course").context["cl"].result_count == 1


@pytest.mark.django_db
def test_a_hidden_field_is_not_a_column_and_cannot_be_sorted_on(staff, offering):
    the_person(offering)
    finance = staff("finance", groups=[roles.FINANCE])
    hidden = {"work_email", "email", "phone", "supervisor_email", "accessibility_needs"}
    for order in ["", *(f"{sign}{i}" for sign in ("", "-") for i in range(10))]:
        page = finance.get(f"{LIST}?o={order}" if order else LIST)
        assert page.status_code == 200
        cl = page.context["cl"]
        assert not hidden & set(cl.list_display)
        ordering = str(cl.queryset.query).split("ORDER BY")[-1]
        assert not any(name in ordering for name in hidden), (order, ordering)
    assert "ana.work@denver911.gov" not in finance.get(LIST).content.decode()


@pytest.mark.django_db
def test_each_group_sees_the_fields_of_its_row(staff, offering):
    registration = the_person(offering)
    change = f"{LIST}{registration.pk}/change/"
    sensitive = {
        "course email": "ana.course@example.org",
        "phone": "303-555-0199",
        "work email": "ana.work@denver911.gov",
        "supervisor": "sam.overseer@denver911.gov",
        "supervisor name": "Sam Overseer",
        "accessibility needs": "Captions for every session",
    }

    def shown(client: Client, url: str) -> set[str]:
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "Denver 911 Communications" in html and "Quintero" in html  # name and agency
        return {what for what, value in sensitive.items() if value in html}

    finance = staff("finance", groups=[roles.FINANCE])
    assert shown(finance, change) == set()
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    eligibility = {"work email", "supervisor", "supervisor name"}
    assert shown(reviewer, change) == eligibility
    assert shown(reviewer, f"{QUEUE}{registration.pk}/change/") == eligibility
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    assert shown(admin, change) == set(sensitive) - {"accessibility needs"}
    assert not StaffAccess.objects.exists()


@pytest.mark.django_db
def test_a_reviewer_sees_the_queue_read_only(staff, offering):
    registration = the_person(offering)
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    url = f"{QUEUE}{registration.pk}/change/"
    page = reviewer.get(url)
    assert page.status_code == 200 and 'name="first_name"' not in page.content.decode()
    assert reviewer.post(url, {"first_name": "Eve"}).status_code == 403
    registration.refresh_from_db()
    assert registration.first_name == "Ana"


@pytest.mark.django_db
def test_staff_outside_the_groups_see_nothing_of_attendees(staff, offering):
    registration = the_person(offering)
    nobody = staff("nobody")
    index = nobody.get("/admin/").content.decode()
    assert "/admin/registrations/" not in index
    pages = [LIST, QUEUE, f"{LIST}{registration.pk}/change/", f"{LIST}{registration.pk}/history/",
             "/admin/registrations/outboundemail/", "/admin/registrations/payment/"]  # fmt: skip
    for url in pages:
        assert nobody.get(url).status_code == 403, url


@pytest.mark.django_db
def test_viewing_accessibility_needs_is_recorded(staff, offering):
    registration = the_person(offering)
    nobody_needs = the_person(offering, email="ben@example.org", accessibility_needs="")
    allowed = staff("allowed", perms=[*VIEW_BOTH, roles.VIEW_ACCESSIBILITY_NEEDS])
    page = allowed.get(f"{LIST}{registration.pk}/change/")
    assert "Captions for every session" in page.content.decode()
    allowed.get(f"{QUEUE}{registration.pk}/change/")
    allowed.get(f"{LIST}{nobody_needs.pk}/change/")  # nothing to see: nothing recorded
    records = list(StaffAccess.objects.order_by("pk"))
    assert [(r.user, r.action, r.model, r.object_ids) for r in records] == [
        (allowed.user, "accessibility_needs", "registrations.registration", [registration.pk])
    ] * 2
    # The history keeps no accessibility needs, so its pages show none (and record none).
    version = registration.history.earliest()
    history = allowed.get(f"{LIST}{registration.pk}/history/{version.history_id}/")
    assert history.status_code == 200
    assert "Captions" not in history.content.decode()
    assert StaffAccess.objects.count() == 2


def roster(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


@pytest.mark.django_db
def test_a_roster_export_has_the_columns_the_user_may_see_and_is_recorded(staff, offering):
    ana = the_person(offering, first_name='=HYPERLINK("http://evil")')
    ben = the_person(offering, email="ben@example.org", last_name="Bell", phone="")
    data = {"action": "export_roster", "_selected_action": [ana.pk, ben.pk]}
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    rows = roster(admin.post(LIST, data))
    assert rows[0][:15] == [  # then the columns other packages add (roster.register_column)
        "registration", "first name", "last name", "course email", "work email", "phone", "role",
        "agency", "city", "state", "class", "status", "registered", "paid", "refunded",
    ]  # fmt: skip
    assert rows[2][:6] == [str(ana.pk), "'=HYPERLINK(\"http://evil\")", "Quintero",
                           "ana.course@example.org", "ana.work@denver911.gov",
                           "303-555-0199"]  # fmt: skip
    assert rows[2][11] == "Eligibility under review"
    assert rows[2][13:15] == ["0.00", "0.00"]  # paid, refunded: dollars, as numbers
    finance = staff("finance", groups=[roles.FINANCE])
    rows = roster(finance.post(LIST, data))
    assert rows[0][:11] == [
        "registration",
        "first name",
        "last name",
        "agency",
        "city",
        "state",
        "class",
        "status",
        "registered",
        "paid",
        "refunded",
    ]
    records = StaffAccess.objects.order_by("pk")
    assert [(r.user, r.action, r.object_ids) for r in records] == [
        (admin.user, "roster_export", sorted([ana.pk, ben.pk])),
        (finance.user, "roster_export", sorted([ana.pk, ben.pk])),
    ]


@pytest.mark.django_db
def test_the_history_shows_who_changed_what_without_hidden_fields(staff, offering, admin_user):
    registration = the_person(offering)
    registration.work_email = "ana.moved@denver911.gov"
    registration.first_name = "Anna"
    registration._history_user = admin_user
    registration.save()
    url = f"{LIST}{registration.pk}/history/"
    finance = staff("finance", groups=[roles.FINANCE])
    html = finance.get(url).content.decode()
    assert "Anna" in html and "admin" in html
    assert "ana.moved@denver911.gov" not in html and "ana.work@denver911.gov" not in html
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    assert "ana.moved@denver911.gov" in reviewer.get(url).content.decode()
    # A version's page is read-only for everyone: posting it (a revert) is refused.
    version = registration.history.earliest()
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    page = f"{url}{version.history_id}/"
    assert admin.get(page).status_code == 200
    assert admin.post(page, {"first_name": "Ana"}).status_code == 403
    registration.refresh_from_db()
    assert registration.first_name == "Anna"


@pytest.mark.django_db
def test_adding_an_agency_domain_needs_list_agency_domain(staff):
    add = "/admin/registrations/agencydomain/add/"
    plain = staff(
        "plain", perms=["registrations.add_agencydomain", "registrations.view_agencydomain"]
    )
    assert plain.get(add).status_code == 403
    assert plain.post(add, {"domain": "new911.gov", "agency_name": "New"}).status_code == 403
    lister = staff("lister", perms=[roles.LIST_AGENCY_DOMAIN, "registrations.view_agencydomain"])
    assert lister.post(add, {"domain": "new911.gov", "agency_name": "New"}).status_code == 302
    assert AgencyDomain.objects.get().added_by == lister.user


@pytest.mark.django_db
def test_accessibility_needs_need_the_dedicated_permission(admin_user, offering, django_user_model):
    registration = Registration.objects.create(
        offering=offering, email="a@e.gov", first_name="A", last_name="B", role="other",
        employer_name="E", employer_city="C", employer_state="CO", work_email="a@e.gov",
        supervisor_name="S", supervisor_email="s@e.gov", attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(), terms_accepted_at=timezone.now(),
        accessibility_needs="Sign language interpreter",
    )  # fmt: skip
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_registration"))
    client = Client()
    client.force_login(staff)
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    assert b"Sign language interpreter" not in client.get(url).content
    staff.user_permissions.add(Permission.objects.get(codename="view_accessibility_needs"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert b"Sign language interpreter" in client.get(url).content


@pytest.mark.django_db
def test_admin_refuses_an_email_clash(admin_client, offering):
    registration = eligible(offering, email="oscar@example.org")
    eligible(offering, email="gina@example.org")
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    data = {
        "first_name": "Oscar", "last_name": "T", "email": "Gina@example.org", "phone": "",
        "role": "other", "pending_email": "", "needs_attention": "", "attention_reason": "",
        **{f"{prefix}-{suffix}": "0" for prefix in ("payments", "events", "emails")
           for suffix in ("TOTAL_FORMS", "INITIAL_FORMS")},
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Another active registration for this class already uses this email." in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_staff_corrections_store_addresses_in_their_normal_form(course):
    registration = registration_in(Registration.State.CONFIRMED, open_offering(course))
    form_class = modelform_factory(Registration, form=RegistrationAdminForm, fields=["email"])
    form = form_class({"email": "  ANA.RUIZ@Denver911.GOV  "}, instance=registration)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["email"] == "ANA.RUIZ@denver911.gov"  # the domain normalised
    refused = form_class({"email": "ana@denver911.gov\u200b"}, instance=registration)
    assert not refused.is_valid() and "invisible" in str(refused.errors)
