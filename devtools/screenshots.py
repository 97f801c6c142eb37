"""Regenerate the README's screenshots (``make screenshots``): the course page, the registration
form checking a webmail work address, and the ticket ("You're confirmed").

Imports both published schedules into a throw-away SQLite database, adds a confirmed attendee
of the first open class (with a meeting link), serves the site on a free local port, and
photographs the pages in Debian's headless Chromium (the browser tests' setup) at desktop
(1280×900) and phone (390×844) sizes, as a visitor in New York sees them (times in MT with
their own time beside them). Writes PNGs to ``docs/screenshots/``. Local development only.
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
        from django.utils import timezone
        from playwright.sync_api import sync_playwright

        from courses.models import Offering
        from registrations import links
        from tests.browser.harness import launch_chromium, new_page
        from tests.factories import registration_in

        call_command("migrate", verbosity=0)
        for schedule in sorted((ROOT / "courses" / "schedules").glob("*.txt")):
            call_command("import_schedule", str(schedule), verbosity=0, stdout=io.StringIO())
        now = timezone.now()
        first_open = next(
            o for o in Offering.objects.order_by("starts_on") if o.registration_state(now) == "open"
        )
        first_open.meeting_url = "https://meet.example.org/cit-911"
        first_open.save(update_fields=["meeting_url"])
        attendee = registration_in(
            "confirmed", first_open, first_name="Ana", last_name="Call-Taker",
            email="ana@nyc911.example.gov", time_zone=TIME_ZONE,
        )  # fmt: skip
        register_url = f"{first_open.get_absolute_url()}register/"
        manage_link = links.manage_path(attendee)  # before Playwright's loop: it reads the ORM

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
                ticket = f"/r/manage/{attendee.pk}/payment/"
                shots = [
                    ("course-page-desktop.png", "desktop", COURSE_URL, None),
                    ("course-page-phone.png", "phone", COURSE_URL, None),
                    ("course-page-phone-classes.png", "phone", COURSE_URL, "#upcoming-heading"),
                    ("register-phone.png", "phone", register_url, 'label[for="id_work_email"]'),
                    ("ticket-phone.png", "phone", ticket, None),
                    ("ticket-desktop.png", "desktop", ticket, None),
                ]
                for name, viewport, path, scroll_to in shots:
                    page = new_page(browser, base_url, viewport=viewport, timezone_id=TIME_ZONE)
                    if path == ticket:  # the emailed link grants this browser the page
                        page.goto(manage_link)
                    page.goto(path)
                    if path == register_url:
                        page.locator("#id_work_email").fill("ana.cit@gmail.com")
                    if scroll_to:
                        page.locator(scroll_to).evaluate(SCROLL_TO_TOP)
                    page.screenshot(
                        path=OUT / name, full_page=path == ticket and viewport == "desktop"
                    )
                    page.context.close()
                    print(OUT.relative_to(ROOT) / name)
                browser.close()
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
