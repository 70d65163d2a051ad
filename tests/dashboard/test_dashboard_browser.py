"""The dashboard in real headless Chromium (Debian's), over a real Corral with known traffic.

Driver: selenium with Debian's /usr/bin/chromedriver (no browser download at test time).
Skips when Chromium is absent locally; under CI a missing browser is a failure, since this
is the only test that runs the page's JavaScript.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.store.testing import in_ci
from tests.dashboard.conftest import Traffic

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(tempfile.gettempdir()) / "dashboard.png"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1800"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    webdriver = None
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"{', '.join(missing)} missing (make install-dev installs them)"
        if in_ci():
            pytest.fail(reason + "; CI is set, so the browser test must run", pytrace=False)
        pytest.skip(reason)
    assert webdriver is not None
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_dashboard_shows_the_traffic(traffic: Traffic, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    driver.get(traffic.server.url + "/dashboard")
    assert driver.find_element(By.ID, "login").is_displayed()  # no key yet: it asks for one
    driver.find_element(By.ID, "key-input").send_keys(traffic.server.admin_key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.loaded === 'true'"))

    shown = [r.get_attribute("data-request-id")
             for r in driver.find_elements(By.CSS_SELECTOR, "#requests tbody tr")]
    assert set(shown) == set(traffic.ids)
    requests_card = driver.find_element(By.CSS_SELECTOR, "[data-card='requests'] b").text
    assert requests_card == str(len(traffic.ids))
    for chart in ("latency", "ttft", "throughput"):
        dots = driver.find_elements(By.CSS_SELECTOR, f"#chart-{chart} svg circle.pt")
        assert dots, f"the {chart} chart drew no data points"
    counts = driver.execute_script(
        "return [...document.querySelectorAll('#chart-throughput circle[data-series=count] title')]"
        ".map(t => Number(t.textContent.split(': ')[1]))")
    assert sum(counts) == len(traffic.ids)
    assert driver.find_elements(By.CSS_SELECTOR, "#chart-cost svg rect.pt")
    assert "errors" in driver.find_element(By.ID, "alerts").text

    driver.find_element(By.ID, "q").send_keys(traffic.error_ids[0])
    driver.find_element(By.CSS_SELECTOR, "#search button").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#requests tbody tr")) == 1)
    row = driver.find_element(By.CSS_SELECTOR, "#requests tbody tr")
    assert row.get_attribute("data-request-id") == traffic.error_ids[0]
    row.click()
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert traffic.error_ids[0] in driver.find_element(By.ID, "detail-body").text
    assert '"attempts"' in driver.find_element(By.ID, "detail-body").text

    driver.refresh()  # the key survives a reload (sessionStorage), and #key= is never needed again
    wait.until(lambda d: d.execute_script("return document.body.dataset.loaded === 'true'"))
    assert not driver.find_element(By.ID, "login").is_displayed()
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]

    # A key in the query string reaches the server and its logs: it is not used, and it
    # leaves the address bar.
    driver.find_element(By.ID, "forget").click()
    assert driver.find_element(By.ID, "login").is_displayed()
    driver.get(f"{traffic.server.url}/dashboard?key={traffic.server.admin_key}")
    wait.until(lambda d: "key=" not in d.current_url)
    assert driver.find_element(By.ID, "login").is_displayed()
    assert "#key=" in driver.find_element(By.ID, "status").text

    # The fragment (#key=) never leaves the browser: it seeds the key, then leaves the
    # address bar.
    driver.get(f"{traffic.server.url}/dashboard#key={traffic.server.admin_key}")
    wait.until(lambda d: d.execute_script("return document.body.dataset.loaded === 'true'"))
    assert "key=" not in driver.current_url
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOT))


def _key_with(traffic: Traffic, role: str) -> str:
    r = httpx.post(traffic.server.url + "/admin/keys", json={"name": f"dash-{role}", "roles": [role]},
                   headers={"authorization": f"Bearer {traffic.server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def test_the_page_shows_only_what_the_key_s_role_allows(traffic: Traffic, browser: object) -> None:
    """An auditor sees the records; an inference key sees no record view (and is told why)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 10)
    loaded = "return document.body.dataset.loaded === 'true'"
    driver.get(f"{traffic.server.url}/dashboard#key={_key_with(traffic, 'auditor')}")
    wait.until(lambda d: d.execute_script(loaded))
    assert driver.find_element(By.ID, "requests").is_displayed()
    assert len(driver.find_elements(By.CSS_SELECTOR, "#requests tbody tr")) == len(traffic.ids)
    assert "auditor" in driver.find_element(By.ID, "whoami").text
    assert not driver.find_element(By.ID, "no-views").is_displayed()

    driver.execute_script("sessionStorage.clear(); document.body.dataset.loaded = ''")
    driver.get(f"{traffic.server.url}/dashboard#key={_key_with(traffic, 'inference')}")
    wait.until(lambda d: d.execute_script(loaded))
    assert driver.find_element(By.ID, "no-views").is_displayed()
    for section in driver.find_elements(By.CSS_SELECTOR, "[data-permission='records.read']"):
        assert not section.is_displayed()
    assert driver.find_element(By.ID, "login").is_displayed() is False
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, [e["message"] for e in errors]
