"""The dashboard's Batches view in headless Chromium, over a gateway that ran two batches:
one answered (progress and cost shown), one refused at validation (its error shown)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batches.gateway import batch_gateway, chat_line, run_batch
from tests.conftest import RunningServer
from tests.dashboard.test_dashboard_browser import browser  # noqa: F401  (the fixture)

NOTHING = "\u2013"  # the page's en dash for "no value"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with batch_gateway("sqlite", tmp_path, ("echo", "fail-context")) as (served, _):
        yield served


def test_batches_view_lists_progress_errors_and_cost(server: RunningServer, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    lines = [chat_line("a"), chat_line("b"), chat_line("c", "fail-context")]
    answered = run_batch(server, server.app_key, lines)
    refused = run_batch(server, server.app_key, [chat_line("x", "nope")])
    assert (answered["status"], refused["status"]) == ("completed", "failed")
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    row = f"#batches tr[data-batch-id='{answered['id']}']"

    def shown(d: WebDriver) -> bool:  # the records are written behind: refresh until the cost is in
        cells = d.find_elements(By.CSS_SELECTOR, row + " td")
        if cells and cells[-1].text.startswith("$"):
            return True
        d.find_element(By.ID, "refresh").click()
        return False

    driver.get(f"{server.url}/dashboard#key={server.admin_key}")
    wait.until(lambda d: d.execute_script("return document.body.dataset.loaded === 'true'"))
    wait.until(shown)
    cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, row + " td")]
    assert cells[1:4] == [answered["id"], "default", "completed"]
    assert cells[4] == "2 ok, 1 failed / 3" and cells[5] == "1 lines failed"
    assert cells[6] == "14/6" and cells[7].startswith("$")  # the fake answers 7 in, 3 out
    refused_row = f"#batches tr[data-batch-id='{refused['id']}'] td"
    failed = [c.text for c in driver.find_elements(By.CSS_SELECTOR, refused_row)]
    assert failed[3] == "failed" and failed[5] == "line 1: model_not_found" and failed[7] == NOTHING
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]
