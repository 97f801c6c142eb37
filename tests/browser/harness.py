"""Real-browser helpers shared by the pytest plugin (``tests.browser.plugin``) and
``devtools/screenshots.py``: how Chromium is launched, the two viewports, and the checks a browser
test makes on a page (axe accessibility, nothing loaded from another origin, no script errors,
no Content-Security-Policy violation).

Pages are opened with the site's CSP bypassed (Playwright's ``bypass_csp``), because axe-core is
injected as a script the policy would refuse; a test of the policy itself opens its page with
``enforce_csp=True`` and asserts ``assert_no_csp_violations``.

Browser tests use Debian's Chromium at ``/usr/bin/chromium`` (``apt-get install -y chromium``);
Playwright's own browser download is not used.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from playwright.sync_api import Browser, BrowserContext, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CITREG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": 390, "height": 844},
}
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
# Chromium's console text for a refused load, a refused form target or a malformed policy header.
POLICY_CONSOLE_MARKERS = ("Content Security Policy", "Permissions-Policy", "Permissions Policy")
# Reports each securitypolicyviolation event to Python (``__citregCspViolation`` is exposed by
# ``new_page``); runs before the page's own scripts, and the page's CSP does not apply to it.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__citregCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} on ${event.documentURI}`
  );
});
"""
INSTALL_HINT = "apt-get update && apt-get install -y chromium"


def launch_chromium(playwright: Playwright) -> Browser:
    """Start Debian's headless Chromium with the project's flags.

    Raises ``FileNotFoundError`` with the install command when ``/usr/bin/chromium`` is missing.
    """
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing; install it with: {INSTALL_HINT}")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class PageLog:
    """What a page did that tests may want to assert on afterwards."""

    origin: str
    enforce_csp: bool = False
    offsite_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    # CSP violations (events and console reports) and Permissions-Policy header errors.
    policy_violations: list[str] = field(default_factory=list)


_LOGS: WeakKeyDictionary[Page, PageLog] = WeakKeyDictionary()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_local(url: str, origin: str) -> bool:
    """Whether ``url`` is served by ``origin`` (or is inline: ``data:``, ``blob:``, ``about:``)."""
    return url.startswith(("data:", "blob:", "about:")) or _origin(url) == origin


def new_page(
    browser: Browser,
    base_url: str,
    *,
    viewport: str = "desktop",
    timezone_id: str = "America/Denver",
    locale: str = "en-US",
    javascript: bool = True,
    timeout_ms: float = 10_000,
    allow: tuple[str, ...] = (),
    enforce_csp: bool = False,
) -> Page:
    """Open a page in a fresh browser context set up like a visitor's device.

    ``viewport`` is ``"desktop"`` (1280×900) or ``"phone"`` (390×844, touch, mobile). Requests to
    any origin other than ``base_url``'s are aborted and recorded (see ``page_log``), as are
    uncaught script errors; ``allow`` lists other origins the test itself serves (e.g. the Stripe
    stand-in's hosted checkout). The site's Content-Security-Policy is bypassed so axe can be
    injected, unless ``enforce_csp``: then the browser applies it and every violation is recorded
    (see ``assert_no_csp_violations``). Close the page's context (``page.context.close()``) when
    done.
    """
    origin = _origin(base_url)
    allowed = {_origin(url) for url in allow}
    context: BrowserContext = browser.new_context(
        base_url=base_url,
        viewport=VIEWPORTS[viewport],
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
        timezone_id=timezone_id,
        locale=locale,
        java_script_enabled=javascript,
        bypass_csp=not enforce_csp,
        # No transitions (Bootstrap honours it): axe measures settled colours, never a button
        # halfway through its hover or focus transition.
        reduced_motion="reduce",
    )
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    log = _LOGS[page] = PageLog(origin=origin, enforce_csp=enforce_csp)

    def block_offsite(route) -> None:
        log.offsite_requests.append(route.request.url)
        route.abort()

    context.route(
        lambda url: not is_local(url, origin) and _origin(url) not in allowed, block_offsite
    )
    page.on("pageerror", lambda error: log.script_errors.append(str(error)))

    def record_violation(description: str) -> None:
        log.policy_violations.append(description)

    context.expose_function("__citregCspViolation", record_violation)
    context.add_init_script(_REPORT_CSP_VIOLATIONS)

    def record_policy_message(message) -> None:
        if any(marker in message.text for marker in POLICY_CONSOLE_MARKERS):
            log.policy_violations.append(f"console: {message.text}")

    page.on("console", record_policy_message)
    return page


def page_log(page: Page) -> PageLog:
    """The offsite requests and script errors recorded for a page made by ``new_page``."""
    return _LOGS[page]


def assert_local_only(page: Page) -> None:
    """Fail if the page asked for anything from another origin (CDNs, fonts, analytics)."""
    offsite = page_log(page).offsite_requests
    assert not offsite, "page loaded from another origin:\n" + "\n".join(offsite)


def assert_no_script_errors(page: Page) -> None:
    """Fail if a script on the page threw an uncaught error."""
    errors = page_log(page).script_errors
    assert not errors, "script errors on the page:\n" + "\n".join(errors)


def assert_no_csp_violations(page: Page) -> None:
    """Fail if the browser refused anything under the site's Content-Security-Policy, or
    reported a malformed Permissions-Policy. Only meaningful on a page opened with
    ``enforce_csp=True``."""
    log = page_log(page)
    assert log.enforce_csp, "open the page with enforce_csp=True to check its CSP"
    assert not log.policy_violations, "policy violations:\n" + "\n".join(log.policy_violations)


def axe_violations(page: Page, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict]:
    """Run axe-core (from ``node_modules``, installed by ``npm ci``) on the page as it is now.

    axe is injected as a script tag, so the page must have been opened with CSP bypassed (the
    default of ``new_page``). Returns axe's violation objects whose impact is in ``impacts``.
    """
    if page in _LOGS and _LOGS[page].enforce_csp:
        raise ValueError(
            "axe cannot be injected under the site's CSP: open the page without "
            "enforce_csp to check accessibility"
        )
    if not AXE_SCRIPT.exists():
        raise FileNotFoundError(f"{AXE_SCRIPT} is missing: run `npm ci` (`make test` does)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=AXE_SCRIPT)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v["impact"] in impacts]


def describe_violations(violations: list[dict]) -> str:
    """axe violations as readable lines: rule id, impact, help text and link, each element."""
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"<{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"  - {target}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> None:
    """Fail on any axe-core violation of the given impacts (default: serious and critical)."""
    violations = axe_violations(page, impacts)
    assert not violations, f"axe found violations on {page.url}:\n" + describe_violations(
        violations
    )
