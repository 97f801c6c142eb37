"""Headers on every response the views answer: ``Permissions-Policy``, and ``Cache-Control`` that
fails closed.

Caching. Every response gets ``Cache-Control: private, no-store`` unless its view is marked with
``@public_page`` *and* the response is the same for every visitor: a 200 answer to GET or HEAD
that used no session, no CSRF token, no cookie and no CSP nonce. Such a response gets
``public, max-age=PUBLIC_PAGE_MAX_AGE`` (seconds). So a page that shows personal data (a manage,
confirm or payment page, the registration form and its answers, the admin, the two-factor pages)
can only become cacheable by someone marking it, and even then not once it touches anything
per-visitor. A nonce is per-response: a page that needs one would break CSP if a cache served it
twice, which is why public pages carry no inline script or style (``docs/architecture.md``,
"Headers and caching").

Static files are answered by WhiteNoise before this middleware and keep WhiteNoise's headers.
The Content-Security-Policy itself is Django's (``SECURE_CSP``,
``django.middleware.csp.ContentSecurityPolicyMiddleware``).
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.csp import get_nonce

PRIVATE = "private, no-store"
_PUBLIC_MARK = "citreg_public_page"


def public_page[**P, R: HttpResponseBase](view: Callable[P, R]) -> Callable[P, R]:
    """Mark a view's pages as the same for every visitor, so caches may keep them.

    Use it only on pages that show nothing about the visitor (the catalogue, a course, a class,
    a policy page). ``SecurityHeadersMiddleware`` still answers ``private, no-store`` when the
    response is not a 200 to GET/HEAD or touched the session, a CSRF token, a cookie or a nonce.
    """

    @wraps(view)
    def marked(*args: P.args, **kwargs: P.kwargs) -> R:
        response = view(*args, **kwargs)
        setattr(response, _PUBLIC_MARK, True)
        return response

    return marked


def permissions_policy(features: dict[str, list[str]]) -> str:
    """The ``Permissions-Policy`` header value for ``{feature: allowlist}``.

    Each allowlist holds the header's own tokens (``self``, ``"https://origin"``); an empty list
    switches the feature off for the page and every frame (``camera=()``). Syntax: W3C
    Permissions Policy, "Structured header serialization".
    """
    return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in features.items())


def _per_visitor(request: HttpRequest, response: HttpResponseBase) -> bool:
    """Whether building this response used anything that differs between visitors."""
    session = getattr(request, "session", None)
    return bool(
        (session is not None and (session.accessed or session.modified))
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        or response.cookies
        or get_nonce(request)  # a LazyNonce is true once generated, i.e. put in the page
    )


def cache_control(request: HttpRequest, response: HttpResponseBase) -> str:
    """The ``Cache-Control`` value for a response, as described in the module docstring."""
    public = (
        getattr(response, _PUBLIC_MARK, False)
        and request.method in ("GET", "HEAD")
        and response.status_code == 200
        and not _per_visitor(request, response)
    )
    if not public:
        return PRIVATE
    return f"public, max-age={settings.PUBLIC_PAGE_MAX_AGE}"


class SecurityHeadersMiddleware:
    """Adds ``Permissions-Policy`` (``settings.PERMISSIONS_POLICY``) and sets ``Cache-Control``
    on every response a view or an error handler produced (see the module docstring).

    Sits right after ``ContentSecurityPolicyMiddleware``, so it sees whether the page used the
    nonce. A ``Permissions-Policy`` a view set itself is kept; ``Cache-Control`` is always ours.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.permissions_policy = permissions_policy(settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        response.headers["Cache-Control"] = cache_control(request, response)
        return response
