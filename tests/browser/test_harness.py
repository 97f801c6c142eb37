"""The browser harness itself: its checks catch what they are meant to (including CSP violations
on a page that enforces the policy), and a failing test leaves a screenshot and the page's HTML
behind."""

import pytest

from tests.browser import plugin
from tests.browser.harness import (
    assert_accessible,
    assert_local_only,
    assert_no_csp_violations,
    assert_no_script_errors,
    page_log,
)

pytestmark = pytest.mark.browser

BAD_PAGE = """<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>
<h1>Bad page</h1>
<p style="color:#bbb;background:#fff">Pale grey text</p>
<label>Name</label><input id="name">
<img src="https://cdn.example.com/logo.png">
<script>null.boom()</script>
</main></body></html>"""


def test_axe_failure_names_rule_element_and_help(open_page):
    page = open_page(None)
    page.set_content(BAD_PAGE)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    message = str(failure.value)
    assert "color-contrast (serious): Elements must meet minimum color contrast ratio" in message
    assert "image-alt (critical): Images must have alternative text" in message
    assert "  - img: Fix any of the following:" in message
    assert "label (critical)" in message and "  - #name:" in message


def test_offsite_requests_are_blocked_and_reported(open_page):
    page = open_page(None)
    page.set_content(BAD_PAGE)
    assert page_log(page).offsite_requests == ["https://cdn.example.com/logo.png"]
    with pytest.raises(AssertionError, match="cdn.example.com"):
        assert_local_only(page)
    with pytest.raises(AssertionError, match="null"):
        assert_no_script_errors(page)


def test_failure_artifacts_are_a_screenshot_and_the_html(open_page, course, tmp_path, monkeypatch):
    monkeypatch.setattr(plugin, "ARTIFACTS", tmp_path)
    page = open_page(course.get_absolute_url(), viewport="phone")
    closed = open_page(None)
    closed.close()
    saved = plugin.save_artifacts("tests/browser/test_x.py::test_y[phone]", [page, closed])
    folder = tmp_path / "tests_browser_test_x.py_test_y_phone"
    assert sorted(folder.iterdir()) == [folder / "page-1.html", folder / "page-1.png"]
    assert len(saved) == 2 and all(path.endswith(("page-1.png", "page-1.html")) for path in saved)
    assert (folder / "page-1.png").read_bytes().startswith(b"\x89PNG")
    assert course.title in (folder / "page-1.html").read_text()


def test_csp_violations_are_reported_and_axe_refuses_an_enforcing_page(open_page, course):
    page = open_page(course.get_absolute_url(), enforce_csp=True)
    assert_no_csp_violations(page)
    page.evaluate(
        """() => {
        const style = document.createElement("style");
        style.textContent = "p { color: red }";
        document.head.append(style);
        const script = document.createElement("script");
        script.textContent = "window.ran = true";
        document.body.append(script);
    }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.ran") is None
    log = page_log(page).policy_violations
    assert any("style-src" in line for line in log) and any("script-src" in line for line in log)
    with pytest.raises(AssertionError, match="style-src"):
        assert_no_csp_violations(page)
    with pytest.raises(ValueError, match="axe cannot be injected"):
        assert_accessible(page)


def test_pages_bypass_the_policy_by_default_so_axe_can_be_injected(open_page, course):
    page = open_page(course.get_absolute_url())
    page.add_script_tag(content="window.ran = true")
    assert page.evaluate("() => window.ran") is True
    assert_accessible(page)
