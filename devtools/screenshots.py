"""Regenerate the README's screenshots of the course page (``make screenshots``).

Imports both published schedules into a throw-away SQLite database, serves the site on a free
local port, and photographs the course page in Debian's headless Chromium (the browser tests'
setup) at desktop (1280×900) and phone (390×844) sizes, as a visitor in New York sees it (times in
MT with their own time beside them). Writes PNGs to ``docs/screenshots/``. Local development only.
"""

import io
import os
import secrets
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
COURSE_URL = "/courses/cit-support-training-911/"
TIME_ZONE = "America/New_York"
# Bootstrap scrolls smoothly; a screenshot taken mid-scroll would show the wrong part.
SCROLL_TO_TOP = "el => el.scrollIntoView({behavior: 'instant'})"


def main() -> None:
    """Build the demo data, serve it, and write the screenshots; print each file written."""
    with tempfile.TemporaryDirectory(prefix="citreg-screenshots-") as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "citreg.settings.base"
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/screenshots.sqlite3"
        os.environ["REDIS_URL"] = ""  # local-memory cache; no service needed
        os.environ["DEBUG"] = "False"
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG off needs a key
        warnings.filterwarnings("ignore", "No directory at", UserWarning)  # no collectstatic

        import django

        django.setup()

        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.management import call_command
        from django.test.testcases import LiveServerThread
        from playwright.sync_api import sync_playwright

        from tests.browser.harness import launch_chromium, new_page

        call_command("migrate", verbosity=0)
        for schedule in sorted((ROOT / "courses" / "schedules").glob("*.txt")):
            call_command("import_schedule", str(schedule), verbosity=0, stdout=io.StringIO())

        server = LiveServerThread("127.0.0.1", static_handler=StaticFilesHandler, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        base_url = f"http://127.0.0.1:{server.port}"
        OUT.mkdir(parents=True, exist_ok=True)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                shots = [
                    ("course-page-desktop.png", "desktop", None),
                    ("course-page-phone.png", "phone", None),
                    ("course-page-phone-classes.png", "phone", "#upcoming-heading"),
                ]
                for name, viewport, scroll_to in shots:
                    page = new_page(browser, base_url, viewport=viewport, timezone_id=TIME_ZONE)
                    page.goto(COURSE_URL)
                    if scroll_to:
                        page.locator(scroll_to).evaluate(SCROLL_TO_TOP)
                    page.screenshot(path=OUT / name)
                    page.context.close()
                    print(OUT.relative_to(ROOT) / name)
                browser.close()
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
