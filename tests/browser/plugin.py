"""pytest plugin for real-browser tests (registered in ``tests/conftest.py``).

A browser test asks for ``open_page``, which starts the site on pytest-django's ``live_server``
and returns a Playwright page of Debian's headless Chromium, already at the given path::

    pytestmark = pytest.mark.browser

    def test_course_page_on_a_phone(open_page, course):
        page = open_page(course.get_absolute_url(), viewport="phone",
                         timezone_id="America/New_York")
        expect(page.get_by_role("heading", level=1)).to_have_text(course.title)
        assert_accessible(page)

Tests using these fixtures get the ``browser`` marker automatically (``-m "not browser"`` skips
them). When such a test fails, a full-page screenshot and the HTML of each page it opened are saved
under ``artifacts/<test id>/`` and their paths are printed in the failure report.
"""

import os
import re
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from playwright.sync_api import Browser, Error, Page, sync_playwright

from registrations import roles

from .harness import REPO, launch_chromium, new_page

ARTIFACTS = REPO / "artifacts"
_PAGES = pytest.StashKey[list[Page]]()
_BROWSER_FIXTURES = {"browser", "open_page"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole test session.

    Playwright's synchronous API keeps an asyncio loop running in the test thread, which Django's
    ORM mistakes for async code; ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set while the browser is up.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            try:
                chromium = launch_chromium(playwright)
            except FileNotFoundError as error:
                pytest.fail(str(error), pytrace=False)
            yield chromium
            chromium.close()


@pytest.fixture
def office_cookie(live_server, django_user_model) -> dict:
    """The session cookie (for ``page.context.add_cookies``) of a staff member in the Training
    administrator group, signed in as after the sign-in page (two-factor is off in tests)."""
    user = django_user_model.objects.create_user("office", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.TRAINING_ADMINISTRATOR))
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


@pytest.fixture
def open_page(request, browser: Browser, live_server) -> Iterator[Callable[..., Page]]:
    """Factory: ``open_page(path, *, viewport="desktop"|"phone", timezone_id="America/Denver",
    locale="en-US", javascript=True, status=200, allow=(), enforce_csp=False)`` returns a page
    showing ``path`` on the live server (or a blank page when ``path`` is None); ``allow`` adds
    origins the test serves itself; ``enforce_csp`` applies the site's Content-Security-Policy
    instead of bypassing it (axe cannot run then; see ``harness.new_page``).

    The response's HTTP status must equal ``status``. Each page has its own browser context (time
    zone, locale, viewport, JavaScript on or off); all are closed after the test.
    """
    pages: list[Page] = request.node.stash.setdefault(_PAGES, [])

    def _open(
        path: str | None = "/",
        *,
        viewport: str = "desktop",
        timezone_id: str = "America/Denver",
        locale: str = "en-US",
        javascript: bool = True,
        status: int = 200,
        allow: tuple[str, ...] = (),
        enforce_csp: bool = False,
    ) -> Page:
        page = new_page(
            browser,
            live_server.url,
            viewport=viewport,
            timezone_id=timezone_id,
            locale=locale,
            javascript=javascript,
            allow=allow,
            enforce_csp=enforce_csp,
        )
        pages.append(page)
        if path is not None:
            response = page.goto(path)
            assert response is not None and response.status == status, (
                f"GET {path}: HTTP {response and response.status}, expected {status}"
            )
        return page

    yield _open
    for page in pages:
        page.context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the browser fixtures with ``browser``."""
    for item in items:
        if _BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """On a failed browser test, save each page's screenshot and HTML and report their paths."""
    report = yield
    pages = item.stash.get(_PAGES, [])
    if report.failed and report.when == "call" and pages:
        saved = save_artifacts(item.nodeid, pages)
        if saved:
            report.sections.append(("browser artifacts", "\n".join(saved)))
    return report


def save_artifacts(nodeid: str, pages: list[Page]) -> list[str]:
    """Write ``artifacts/<test id>/page-N.png`` and ``page-N.html`` for each still-open page.

    Returns the written paths, relative to the repository, to print.
    """
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", nodeid).strip("_")
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, page in enumerate(pages, start=1):
        if page.is_closed():
            continue
        png, html = folder / f"page-{number}.png", folder / f"page-{number}.html"
        try:
            page.screenshot(path=png, full_page=True)
            saved.append(os.path.relpath(png, REPO))
            html.write_text(f"<!-- {page.url} -->\n{page.content()}", encoding="utf-8")
            saved.append(os.path.relpath(html, REPO))
        except Error as error:  # a crashed or still-navigating page: keep what was saved
            saved.append(f"page {number} ({page.url}): not saved: {error}")
    return saved
