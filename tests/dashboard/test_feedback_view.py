"""The dashboard's Feedback view in headless Chromium: what POST /v1/feedback stored, newest first,
filtered by rating, for a key that may read records and for no other."""

from __future__ import annotations

import httpx

from tests.dashboard.conftest import Traffic
from tests.dashboard.test_dashboard_browser import browser  # noqa: F401  (the fixture)


def _feedback(traffic: Traffic, request_id: str, rating: str, comment: str) -> None:
    r = httpx.post(traffic.server.url + "/v1/feedback", timeout=10,
                   json={"request_id": request_id, "rating": rating, "comment": comment},
                   headers={"authorization": f"Bearer {traffic.server.app_key}"})
    assert r.status_code in (200, 201), r.text


def test_feedback_view_lists_and_filters(traffic: Traffic, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    _feedback(traffic, traffic.ok_ids[0], "up", "spot on, thanks")
    _feedback(traffic, traffic.ok_ids[1], "down", "the dates are wrong")
    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    cells = "#feedback-list tbody tr td"

    def comments(d: WebDriver) -> list[str]:
        # One script call reads the table atomically: element handles held across calls go stale
        # when the view re-renders between them (a flake CI saw).
        return d.execute_script(  # type: ignore[no-any-return]
            "return [...document.querySelectorAll('#feedback-list tbody tr')]"
            ".map(r => r.querySelectorAll('td')).filter(c => c.length > 4)"
            ".map(c => c[4].textContent);")

    driver.get(f"{traffic.server.url}/dashboard#key={traffic.server.admin_key}")
    wait.until(lambda d: {"spot on, thanks", "the dates are wrong"} <= set(comments(d)))
    first = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].slice(0, 7).map(c => c.textContent);", cells)
    assert first[1] == traffic.ok_ids[1] and first[2] == "down", "newest first"
    Select(driver.find_element(By.ID, "feedback-rating")).select_by_value("up")
    wait.until(lambda d: "the dates are wrong" not in comments(d))
    assert "spot on, thanks" in comments(driver)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]
