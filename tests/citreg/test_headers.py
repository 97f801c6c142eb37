"""``citreg.middleware`` and the CSP settings: Content-Security-Policy on every page (admin
included), public pages free of inline script and style (so no nonce, so cacheable),
Permissions-Policy everywhere, and ``Cache-Control: private, no-store`` on everything that is not
explicitly public."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.middleware.csrf import get_token
from django.template import RequestContext, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.views.defaults import permission_denied, server_error

from citreg.middleware import PRIVATE, SecurityHeadersMiddleware, public_page
from citreg.settings.base import content_security_policy, stripe_checkout_origin
from courses.models import Offering
from registrations import links
from registrations.models import PolicyPage
from registrations.views.ratelimits import too_many_requests
from tests.factories import registration_in
from tests.registrations.helpers import form_data, open_offering, register_url

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CSP_HEADER = "Content-Security-Policy"


class InlineFinder(HTMLParser):
    """Collects what a strict CSP refuses in a page: a <script> without ``src``, a <style>
    block, a ``style`` attribute, an ``on…`` event handler, a ``javascript:`` URL, and any
    ``nonce`` attribute (a page holding one cannot be cached)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> block")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            elif name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            elif name == "nonce":
                self.found.append(f"nonce on <{tag}>")
            elif name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL on <{tag}>")


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def offering(course) -> Offering:
    # The migration writes the policy pages; a transactional test run earlier may have flushed
    # them.
    for slug in PolicyPage.Slug:
        PolicyPage.objects.get_or_create(slug=slug, defaults={"title": slug.label, "body": "Text."})
    return open_offering(course)


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("boss", "boss@citreg.localhost", "x")


def public_paths(offering: Offering) -> list[str]:
    course = offering.course
    return [
        "/",
        course.get_absolute_url(),
        offering.get_absolute_url(),
        f"/courses/{course.slug}/classes/{offering.pk}/calendar.ics",
        "/policies/terms/",
        "/policies/privacy/",
    ]


def manage_page(client, offering: Offering):
    """The attendee's manage page as a browser reaches it from the emailed link."""
    registration = registration_in("eligible", offering)
    response = client.get(links.manage_path(registration), follow=True)
    assert response.status_code == 200
    assert b"Cancel my registration" in response.content
    return response


# --------------------------------------------------------------------------- the policy itself


def test_the_policy_is_strict_and_names_only_stripe_checkout_besides_self(settings):
    policy = content_security_policy("https://checkout.stripe.com")
    assert policy == {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "<CSP_NONCE_SENTINEL>"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https://checkout.stripe.com"],
    }
    assert settings.SECURE_CSP == content_security_policy(settings.STRIPE_CHECKOUT_ORIGIN)


@pytest.mark.parametrize(
    ("api_base", "origin"),
    [
        ("https://api.stripe.com", "https://checkout.stripe.com"),
        ("https://api.stripe.com/", "https://checkout.stripe.com"),
        ("http://127.0.0.1:12111", "http://127.0.0.1:12111"),
        ("http://127.0.0.1:12111/v1", "http://127.0.0.1:12111"),
    ],
)
def test_the_checkout_origin_follows_the_stripe_api_base(api_base, origin):
    assert stripe_checkout_origin(api_base) == origin


# --------------------------------------------------------------------------- public pages


def test_public_pages_carry_the_policy_without_a_nonce_and_may_be_cached(client, offering):
    expected = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' "
        "https://checkout.stripe.com"
    )
    for path in public_paths(offering):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response[CSP_HEADER] == expected, path
        assert response["Cache-Control"] == "public, max-age=60", path
        assert "Cookie" not in response.get("Vary", ""), path
        assert not response.cookies, path
        assert "nonce" not in response.content.decode(), path


def test_the_public_lifetime_is_a_setting(client, offering, settings):
    settings.PUBLIC_PAGE_MAX_AGE = 300
    assert client.get("/")["Cache-Control"] == "public, max-age=300"


def test_a_head_request_to_a_public_page_is_cacheable_too(client, offering):
    assert client.head(offering.get_absolute_url())["Cache-Control"] == "public, max-age=60"


def test_public_pages_hold_no_inline_script_or_style(client, offering):
    for path in public_paths(offering)[:-1] + ["/policies/terms/"]:
        assert inline_code(client.get(path).content.decode()) == [], path


def test_pages_anyone_can_open_hold_no_inline_script_or_style(client, offering):
    """The register form (also with errors), the link request, a broken link, a missing page,
    and the error pages: none holds inline code, so none needs a nonce."""
    pages = {
        "register": client.get(register_url(offering)),
        "register with errors": client.post(register_url(offering), form_data(email="nope")),
        "request a link": client.get("/r/link/"),
        "request a link, error": client.post("/r/link/", {"email": "not an email"}),
        "broken manage link": client.get("/r/manage/not-a-token/", follow=True),
        "404": client.get("/courses/no-such-course/"),
    }
    assert pages["register with errors"].status_code == 400
    assert b'id="error-summary"' in pages["register with errors"].content
    assert pages["404"].status_code == 404
    for name, response in pages.items():
        assert CSP_HEADER in response, name
        assert "nonce-" not in response[CSP_HEADER], name
        assert inline_code(response.content.decode()) == [], name
    request = RequestFactory().get("/")
    request.session = SessionStore()
    rendered = {
        "403": permission_denied(request, PermissionError()).content.decode(),
        "403_csrf": render_to_string("403_csrf.html", request=request),
        "429": too_many_requests(request).content.decode(),
        "500": server_error(request).content.decode(),
    }
    assert "Something went wrong" in rendered["500"]
    assert 'href="/static/css/error.css"' in rendered["500"]
    for name, html in rendered.items():
        assert inline_code(html) == [], name


def test_the_attendee_pages_hold_no_inline_script_or_style(client, offering):
    assert inline_code(manage_page(client, offering).content.decode()) == []


INLINE_IN_SOURCE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=|javascript:|<style(?![^>]*csp_nonce_attr)",
    re.IGNORECASE,
)


def test_no_template_holds_code_the_policy_refuses():
    """Every web page template (emails are not web pages): no inline script, handler or style
    attribute; a <style> block only with Django's nonce (the admin's own pattern)."""
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        relative = path.relative_to(TEMPLATES)
        if relative.parts[0] == "emails":
            continue
        for match in INLINE_IN_SOURCE.finditer(path.read_text()):
            offenders.append(f"{relative}: {match.group(0).strip()}")
    assert offenders == []


# --------------------------------------------------------------------------- personal pages


def test_the_register_form_and_its_answers_are_not_stored(client, offering):
    assert client.get(register_url(offering))["Cache-Control"] == PRIVATE
    assert client.post(register_url(offering), form_data(email="x"))["Cache-Control"] == PRIVATE
    done = client.post(register_url(offering), form_data())
    assert done.status_code == 302 and done["Cache-Control"] == PRIVATE
    registered = client.get(done["Location"])
    assert registered.status_code == 200 and registered["Cache-Control"] == PRIVATE


def test_the_manage_page_has_the_policy_and_is_not_stored(client, offering):
    registration = registration_in("eligible", offering)
    first = client.get(links.manage_path(registration))
    assert first["Cache-Control"] == PRIVATE
    page = manage_page(client, offering)
    assert page["Cache-Control"] == PRIVATE
    assert page[CSP_HEADER].startswith("default-src 'self'; script-src 'self'; style-src 'self';")


def test_link_request_and_errors_are_not_stored(client, offering):
    for response in (
        client.get("/r/link/"),
        client.post("/r/link/", {"email": "ana@example.org"}),
        client.get("/courses/no-such-course/"),
        client.get("/r/manage/not-a-token/"),
    ):
        assert response["Cache-Control"] == PRIVATE


def test_the_staff_sign_in_has_the_policy_no_inline_code_and_is_not_stored(client):
    response = client.get("/account/login/")
    assert response.status_code == 200
    assert response["Cache-Control"] == PRIVATE
    assert response[CSP_HEADER].startswith("default-src 'self'; script-src 'self';")
    assert inline_code(response.content.decode()) == []


def test_the_admin_has_the_policy_with_a_nonce_only_for_styles_and_is_not_stored(
    client, staff, offering
):
    """Django's admin puts the nonce on its stylesheets and its few <style> blocks; its scripts
    all have a ``src``, so script-src stays 'self' alone."""
    assert client.get("/admin/")["Cache-Control"] == PRIVATE  # the way to the sign-in
    client.force_login(staff)
    registration_in("eligible", offering)
    for path in (
        "/admin/",
        "/admin/registrations/registration/",
        "/admin/courses/offering/",
        f"/admin/courses/offering/{offering.pk}/change/",
        f"/admin/courses/offering/{offering.pk}/history/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == PRIVATE, path
        header = response[CSP_HEADER]
        [nonce] = re.findall(
            r"^default-src 'self'; script-src 'self'; style-src 'self' "
            r"'nonce-([\w-]+)'; img-src 'self' data:;",
            header,
        )
        assert f'nonce="{nonce}"' in response.content.decode(), path
        assert "frame-ancestors 'none'" in header and "form-action 'self' " in header, path


# --------------------------------------------------------------------------- Permissions-Policy


def test_every_response_has_a_permissions_policy(client, staff, offering):
    client.force_login(staff)
    responses = [
        client.get(path)
        for path in (
            *public_paths(offering),
            register_url(offering),
            "/courses/no-such-course/",
            "/admin/",
            "/healthz",
        )
    ]
    responses.append(client.post("/payments/stripe/webhook/", b"{}", "application/json"))
    for response in responses:
        policy = response["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert f"{feature}=()" in policy.split(", ")
        assert re.fullmatch(r"[a-z-]+=\(\)(, [a-z-]+=\(\))*", policy)


# --------------------------------------------------------------------------- failing closed

rf = RequestFactory()


def through_the_middleware(view, method: str = "get") -> HttpResponse:
    """Run ``view`` behind Django's CSP middleware and ours, as the real stack does."""
    request = getattr(rf, method)("/")
    request.session = SessionStore()
    handler = ContentSecurityPolicyMiddleware(SecurityHeadersMiddleware(view))
    return handler(request)


@public_page
def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the same for everyone")


def test_a_marked_page_that_touches_nothing_per_visitor_is_public():
    response = through_the_middleware(plain)
    assert response["Cache-Control"] == "public, max-age=60"
    assert "nonce-" not in response[CSP_HEADER]


def test_an_unmarked_page_is_private_even_if_it_asked_for_caching():
    def view(request):
        response = HttpResponse("hello")
        response["Cache-Control"] = "public, max-age=3600"
        return response

    assert through_the_middleware(view)["Cache-Control"] == PRIVATE


@public_page
def uses_the_session(request):
    return HttpResponse(str(request.session.get("registered")))


@public_page
def uses_a_csrf_token(request):
    return HttpResponse(get_token(request))


@public_page
def sets_a_cookie(request):
    response = HttpResponse("hi")
    response.set_cookie("seen", "1")
    return response


@public_page
def uses_the_nonce(request):
    template = Template("<style {% csp_nonce_attr %}>p{}</style>")
    return HttpResponse(template.render(RequestContext(request, {})))


@public_page
def not_found(request):
    return HttpResponse("gone", status=404)


@pytest.mark.parametrize(
    "view", [uses_the_session, uses_a_csrf_token, sets_a_cookie, uses_the_nonce, not_found]
)
def test_a_marked_page_that_differs_per_visitor_or_fails_is_not_stored(view):
    assert through_the_middleware(view)["Cache-Control"] == PRIVATE


def test_a_nonce_used_by_a_marked_page_reaches_the_header_and_forbids_caching():
    response = through_the_middleware(uses_the_nonce)
    [nonce] = re.findall(r"'nonce-([\w-]+)'", response[CSP_HEADER])
    assert f'nonce="{nonce}"'.encode() in response.content
    assert response["Cache-Control"] == PRIVATE


def test_a_marked_page_answering_a_post_is_not_stored():
    assert through_the_middleware(plain, method="post")["Cache-Control"] == PRIVATE
