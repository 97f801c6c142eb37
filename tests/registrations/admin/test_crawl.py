"""The admin as a whole (``registrations.admin``, ``registrations.messaging.admin``,
``courses.admin``): a staff member crawls every admin page they can open, breadth-first from
/admin/ (change pages, history pages and their versions, the email log with its bodies,
broadcast previews, payments, webhook events), and finds no working attendee link in any of
them (``docs/architecture.md``, "Security and privacy")."""

import html
import re
from collections import deque
from datetime import date
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.utils import timezone

from registrations import links, roles
from registrations.messaging import broadcasts, notices, outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Broadcast, PolicyPage, Registration
from registrations.payments.models import Payment, Refund, WebhookEvent
from tests.factories import make_offering, registration_in

S = Registration.State
PURPOSES = [links.WORK_EMAIL, links.NEW_EMAIL, links.SUPERVISOR, links.MANAGE]
SIGNED = re.compile(r"[A-Za-z0-9_.\-]+(?::[A-Za-z0-9]+)?:[A-Za-z0-9_\-]{43}")
ATTENDEE_URL = re.compile(r"/r/[^\s\"'<>]+")
HREF = re.compile(r"href=\"([^\"]+)\"")
STRIPE_CHECKOUT = "https://checkout.stripe.com/c/pay/cs_test_crawl#fidkey"
MAX_PAGES = 1500


def token_of(url: str) -> str:
    """The signed token in a link."""
    match = SIGNED.search(url)
    assert match, url
    return match.group(0)


def current_tokens(registration: Registration) -> list[str]:
    """Links made now for every purpose the registration has an address for."""
    made = [links.manage_url(registration), links.work_email_url(registration),
            links.supervisor_url(registration)]  # fmt: skip
    if registration.pending_email:
        made.append(links.new_email_url(registration))
    return [token_of(url) for url in made]


@pytest.fixture
def world(course, django_capture_on_commit_callbacks, monkeypatch):
    """Registrations in several states with every kind of record staff can open: sent, queued
    and failed emails (bodies with links, a calendar invitation), a sent broadcast and a draft
    whose preview names {manage_url}, a payment with its Stripe checkout URL and a refund, a
    webhook event whose payload carries a manage link, history, an agency domain, a policy
    page, and an email row written before redaction existed (a live link in its stored body)."""
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "https://meet.example.org/cit"
    offering.save()
    ana = registration_in(S.CONFIRMED, offering, first_name="Ana")
    ben = registration_in(S.WAITLISTED, offering, first_name="Ben", waitlisted_at=timezone.now())
    cara = registration_in(S.PENDING_EMAIL, offering, first_name="Cara")
    dan = registration_in(S.ELIGIBLE, offering, first_name="Dan", pending_email="dan2@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        notices.send_confirmation(ana)
        notices.send_manage_link(ana)
        notices.send_waitlist_joined(ben, 1)
        notices.send_work_email_confirmation(cara)
        notices.send_supervisor_request(cara)
        notices.send_eligible(dan)
        notices.send_new_email_confirmation(dan)
        notices.send_staff_alert(dan, "Something needs a person.")
    monkeypatch.setattr(broadcasts, "start_pump", lambda pk: None)
    sent = Broadcast.objects.create(
        offering=offering, audience="confirmed", subject="Hi {first_name}",
        body="Manage: {manage_url} Join: {meeting_url}",
    )  # fmt: skip
    broadcasts.broadcast_send(sent, user=None)
    for row in broadcasts.batch_emails(sent):
        assert outbox.email_send(row.pk).outcome == "sent"
    Broadcast.objects.create(
        offering=offering, audience="active", subject="Draft", body="See {manage_url}"
    )
    failed = outbox.email_queue(
        kind=notices.Kind.MANAGE_LINK, to_email=dan.email, template="emails/manage_link",
        context={**notices.registration_context(dan)}, dedupe_key="failed", registration=dan,
        publish=False,
    ).email  # fmt: skip
    OutboundEmail.objects.filter(pk=failed.pk).update(status="failed", last_error="550 no")
    outbox.email_queue(
        kind=notices.Kind.ELIGIBLE, to_email=dan.email, template="emails/eligible",
        context=notices.registration_context(dan), dedupe_key="queued", registration=dan,
        publish=False,
    )  # fmt: skip
    legacy = links.manage_url(ana)
    OutboundEmail.objects.create(
        kind="manage_link", dedupe_key="legacy", to_email=ana.email, registration=ana,
        template="emails/manage_link", status="sent", sent_at=timezone.now(),
        subject="Your registration", text_body=f"Open {legacy}",
        html_body=f'<a href="{legacy}">open</a>', context={"manage_url": legacy},
    )  # fmt: skip
    payment = Payment.objects.create(
        registration=ana, status="paid", amount_cents=25000, idempotency_key="crawl-1",
        nonce="n" * 32, stripe_checkout_session_id="cs_test_crawl", stripe_payment_intent_id="pi_1",
        checkout_url=STRIPE_CHECKOUT, paid_at=timezone.now(),
    )  # fmt: skip
    Refund.objects.create(
        payment=payment, amount_cents=1000, status="succeeded", idempotency_key="crawl-r1",
        stripe_refund_id="re_1", reason="Goodwill",
    )  # fmt: skip
    WebhookEvent.objects.create(
        stripe_event_id="evt_crawl", type="checkout.session.completed", outcome="processed",
        payload={"data": {"object": {
            "id": "cs_test_crawl", "url": STRIPE_CHECKOUT,
            "success_url": f"{settings.SITE_URL}{links.manage_path(ana)}payment/",
        }}},
    )  # fmt: skip
    ana.first_name = "Anna"
    ana.save()
    AgencyDomain.objects.create(domain="denver911.gov", agency_name="Denver 911")
    PolicyPage.objects.get_or_create(slug="privacy", defaults={"title": "Privacy", "body": "x"})
    sent_tokens = {
        token_of(url)
        for message in mail.outbox
        for url in re.findall(r"https?://\S+", message.body)
        if "/r/" in url
    }
    assert len(sent_tokens) >= 5  # the attendees did get working links (same second: same token)
    return {"registrations": [ana, ben, cara, dan], "sent_tokens": sent_tokens, "legacy": legacy}


def crawl(client: Client) -> dict[str, str]:
    """Every admin page reachable from /admin/ by links, breadth-first: {url: html}. Links with
    a query string (filters, sorting, previews) are followed from pages without one."""
    seen, pages = {"/admin/"}, {}
    queue = deque(["/admin/"])
    while queue:
        url = queue.popleft()
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        text = response.content.decode()
        pages[url] = text
        for href in HREF.findall(text):
            target = html.unescape(href)
            if urlsplit(target).scheme or target.startswith(("#", "//")):
                continue
            parts = urlsplit(urljoin(url, target))
            if not parts.path.startswith("/admin/") or parts.path.startswith("/admin/logout"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.query and "?" in url:
                continue
            if target not in seen:
                seen.add(target)
                queue.append(target)
        assert len(seen) < MAX_PAGES
    return pages


def working_links(pages: dict[str, str], world: dict) -> list[str]:
    """What in ``pages`` would open something of an attendee's: every signed value that one of
    the link purposes accepts, every attendee URL that works in a fresh browser, and any link
    made for these registrations (now or in the emails they were sent)."""
    found = []
    anonymous = Client()
    prefixes = {token.split(":")[0] for r in world["registrations"] for token in current_tokens(r)}
    for url, text in pages.items():
        text = html.unescape(text)
        for value in set(SIGNED.findall(text)):
            for purpose in PURPOSES:
                try:
                    links.read_link(purpose, value)
                except links.LinkError:
                    continue
                found.append(f"{url}: a valid {purpose} token")
        for path in set(ATTENDEE_URL.findall(text)):
            if path.startswith("/r/link/"):
                continue
            response = anonymous.get(path)
            if response.status_code in (200, 302, 303):
                found.append(f"{url}: {path} answers {response.status_code}")
        found += [f"{url}: a sent link" for t in world["sent_tokens"] if t in text]
        found += [f"{url}: a link's payload" for p in prefixes if p in text]
        if "checkout.stripe.com/c/pay" in text:
            found.append(f"{url}: a Stripe checkout URL")
    return found


def view_only_training_administrator(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    views = Group.objects.get(name=roles.TRAINING_ADMINISTRATOR).permissions.filter(
        codename__startswith="view_"
    )
    user.user_permissions.add(*views)
    return user


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who",
    ["view-only training administrator", *roles.GROUPS, "superuser"],
)
def test_no_admin_page_shows_a_working_attendee_link(world, who, django_user_model):
    if who == "view-only training administrator":
        user = view_only_training_administrator(django_user_model)
        assert user.has_perm(roles.VIEW_CONTACT_DETAILS)
        assert not user.has_perm("registrations.change_registration")
    elif who == "superuser":
        user = django_user_model.objects.create_superuser("root", password="x")
    else:
        user = django_user_model.objects.create_user(who, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=who))
    client = Client()
    client.force_login(user)
    pages = crawl(client)
    assert working_links(pages, world) == []
    opened = " ".join(pages)
    if who != roles.FINANCE:
        ana = world["registrations"][0]
        assert f"/admin/registrations/registration/{ana.pk}/change/" in pages
        assert f"/admin/registrations/registration/{ana.pk}/history/" in pages
        assert re.search(rf"/registration/{ana.pk}/history/\d+/", opened)  # a version's page
    if who in ("superuser", "view-only training administrator", roles.TRAINING_ADMINISTRATOR):
        assert re.search(r"/admin/registrations/outboundemail/\d+/change/", opened)
        assert re.search(r"/admin/registrations/broadcast/\d+/change/", opened)
    if who == "superuser":  # it may read the bodies: they are there, with links redacted
        bodies = [t for u, t in pages.items() if "/outboundemail/" in u and "/change/" in u]
        assert any(outbox.PERSONAL_LINK in body for body in bodies)
        assert re.search(r"/admin/registrations/webhookevent/\d+/change/", opened)
        assert re.search(r"/admin/registrations/payment/\d+/change/", opened)
    if who == roles.FINANCE:
        assert re.search(r"/admin/registrations/payment/\d+/change/", opened)
        assert re.search(r"/admin/registrations/refund/\d+/history/", opened)


@pytest.mark.django_db
def test_the_crawl_would_find_a_working_link(world, admin_client):
    """The check above is not vacuous: a page holding a live link is caught by each test."""
    ana = world["registrations"][0]
    page = {"/x/": f'<a href="{links.manage_url(ana)}">x</a>'}
    found = working_links(page, world)
    assert any("valid registrations.manage token" in f for f in found)
    assert any("answers 303" in f for f in found)
    assert any("payload" in f for f in found)
    assert working_links({"/x/": f"<p>{world['legacy']}</p>"}, world)
