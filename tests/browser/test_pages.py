"""The pages for people, tested as people use them: Debian's Chromium, driven by Playwright, against the
live server, with every request to another host blocked (as on a network with no internet).

Screenshots are kept as artifacts in ``$LOSS_SERVICE_ARTIFACTS`` (default: a temporary folder), never in
the repository. CI installs chromium (Debian) and playwright (PyPI) and requires these tests to run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.http import running_server
from tests.support.require import skip_unless_available

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
    skip_unless_available("chromium", f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium")
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    skip_unless_available("chromium", "playwright is not installed: pip install '.[test]'")
    raise

# As the machine's own check starts Chromium: no sandbox (root), nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("LOSS_SERVICE_ARTIFACTS") or tempfile.gettempdir()) / "loss-service-screenshots"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Visit:
    """A page in a fresh browser context where only the service's own host is reachable."""

    def __init__(self, browser: Browser, server_url: str, width: int, height: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.server_url = server_url
        self.elsewhere: list[str] = []  # every request to another host, refused
        self.page.route("**/*", self._only_the_service)

    def _only_the_service(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.server_url + "/") or url == self.server_url:
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open_explorer(self, loss: str | None = None) -> Page:
        self.page.goto(self.server_url + "/explorer" + (f"#{loss}" if loss else ""))
        self.page.wait_for_selector("body[data-ready=true]")
        return self.page


@pytest.fixture
def visit(browser: Browser, server_url: str) -> Iterator[Visit]:
    opened = Visit(browser, server_url, 1280, 900)
    yield opened
    opened.context.close()
    assert opened.elsewhere == [], f"the page asked other hosts for {opened.elsewhere}"


def catalog(server_url: str) -> list[dict[str, Any]]:
    losses: list[dict[str, Any]] = httpx.get(server_url + "/losses", timeout=30).json()["losses"]
    return losses


def test_the_explorer_lists_every_loss_by_family_with_its_formula(visit: Visit, server_url: str) -> None:
    page = visit.open_explorer()
    entries = catalog(server_url)
    assert page.locator("button.loss").evaluate_all("buttons => buttons.map(b => b.dataset.loss)") == [
        entry["name"] for entry in entries
    ]
    families = page.locator(".family h2").all_text_contents()
    assert families == list(dict.fromkeys(entry["family"] for entry in entries))
    # Every formula is MathML the browser lays out: a box with a size, not raw LaTeX.
    sizes = page.locator("button.loss math").evaluate_all(
        "maths => maths.map(m => { const r = m.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(sizes) == len(entries)
    assert all(width > 10 and height > 5 for width, height in sizes), sizes
    assert "\\ell" not in page.locator("nav").inner_text()
    huber = page.locator('button.loss[data-loss="huber"] math')
    assert huber.locator("mfrac").count() >= 1 and huber.locator("mtable").count() == 1  # the two cases
    visit.screenshot("explorer-catalog")


def test_a_plot_shows_what_post_losses_answers_for_the_same_points(visit: Visit, server_url: str) -> None:
    page = visit.open_explorer()
    page.locator('button.loss[data-loss="huber"]').click()
    page.locator("#sweep-points").fill("21")
    page.locator("#plot-button").click()
    page.wait_for_selector("#plot:not([hidden])")
    plotted = orjson.loads(page.locator("#plot-svg").get_attribute("data-plot") or "{}")
    assert plotted["loss"] == "huber" and plotted["input"] == "y_pred" and len(plotted["x"]) == 21
    assert page.locator("#plot-svg polyline").count() == 2
    # The same points, one request each, straight to the API: the page drew exactly these numbers.
    inputs = {name: orjson.loads(page.locator(f"#input-{name}").input_value()) for name in ("y_true", "y_pred")}
    delta = float(page.locator("#param-delta").input_value())
    for k in (0, 7, 20):
        y_pred = [row[:] for row in inputs["y_pred"]]
        y_pred[0][0] = plotted["x"][k]
        body = {
            "y_true": inputs["y_true"],
            "y_pred": y_pred,
            "params": {"delta": delta},
            "reduction": "sum",
            "return_grad": True,
        }
        answer = httpx.post(server_url + "/losses/huber", json=body, timeout=30).json()
        assert plotted["value"][k] == answer["loss"]
        assert plotted["grad"][k] == answer["grad"]["y_pred"][0][0]
    # The request is shown, as curl and as JavaScript, for a developer to copy.
    assert (page.locator("#request-curl").text_content() or "").startswith(f"curl -s -X POST {server_url}/batch")
    assert "fetch(" in (page.locator("#request-js").text_content() or "")
    visit.screenshot("explorer-plot")


def test_a_bad_param_shows_the_services_problem(visit: Visit, server_url: str) -> None:
    page = visit.open_explorer("huber")
    page.locator("#param-delta").fill("-1")
    page.locator("#plot-button").click()
    error = page.locator("#error")
    error.wait_for(state="visible")
    shown = error.inner_text()
    answer = httpx.post(
        server_url + "/losses/huber",
        json={"y_true": [[0.0]], "y_pred": [[1.0]], "params": {"delta": -1}},
        timeout=30,
    ).json()
    assert "422" in shown
    assert answer["detail"] in shown  # the service's own words, not swallowed
    assert "/params/delta" in shown
    assert page.locator("#plot").is_hidden()
    visit.screenshot("explorer-422")


def test_keyboard_and_a_phone_width_screen(browser: Browser, server_url: str) -> None:
    phone = Visit(browser, server_url, 375, 760)
    try:
        page = phone.open_explorer()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the screen
        for _ in range(10):  # Tab from the top of the page to the first loss
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('loss')"):
                break
        assert page.evaluate("document.activeElement.dataset.loss") == "mse"
        page.keyboard.press("Enter")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.locator("#loss-name").inner_text() == "mse"
        page.locator("#plot-button").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#plot:not([hidden])")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        phone.screenshot("explorer-phone")
        assert phone.elsewhere == []
    finally:
        phone.context.close()


@pytest.mark.parametrize(
    ("path", "operations"),
    [("/docs", ".opblock"), ("/redoc", "[data-section-id^='tag/'], [data-section-id^='operation/']")],
)
def test_the_api_pages_render_their_operations_offline(visit: Visit, path: str, operations: str) -> None:
    visit.page.goto(visit.server_url + path)
    visit.page.wait_for_selector(operations)
    assert visit.page.locator(operations).count() > 10
    assert "compute_mse" in visit.page.content() or "Compute mse" in visit.page.content()
    visit.screenshot("docs" if path == "/docs" else "redoc")
