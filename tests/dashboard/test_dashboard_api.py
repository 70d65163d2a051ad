"""The dashboard's JSON endpoints against a real Corral with known traffic (see conftest)."""

from __future__ import annotations

import time

import pytest

from tests.dashboard.conftest import PLAN, Traffic

ADMIN_PATHS = ["/admin/dashboard/summary", "/admin/dashboard/timeseries", "/admin/dashboard/cost",
               "/admin/requests", "/admin/alerts"]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_data_endpoints_need_an_admin_key(traffic: Traffic, path: str) -> None:
    assert traffic.admin(path, key=None).status_code == 401
    assert traffic.admin(path, key=traffic.server.app_key).status_code == 403
    assert traffic.admin(path).status_code == 200


def test_page_and_assets_are_served_without_a_key(traffic: Traffic) -> None:
    page = traffic.admin("/dashboard", key=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "https://" not in page.text  # nothing loaded from elsewhere
    js = traffic.admin("/dashboard/app.js", key=None)
    assert js.status_code == 200 and "sessionStorage" in js.text
    assert traffic.admin("/dashboard/secrets.py", key=None).status_code == 404


def test_summary_counts_the_traffic(traffic: Traffic) -> None:
    s = traffic.admin("/admin/dashboard/summary?since=1h").json()
    assert s["count"] == len(PLAN) and s["errors"] == len(traffic.error_ids) == 2
    assert s["error_rate"] == pytest.approx(2 / len(PLAN))
    assert s["errors_by_type"] == {"ContextLengthExceeded": 2}
    assert s["latency_ms"]["p50"] is not None and s["latency_ms"]["p50"] <= s["latency_ms"]["p99"]
    assert s["ttft_client_ms"]["p99"] is not None and s["throughput_rps"] > 0
    assert s["tokens"]["input"] >= 8 * 7  # the fake reports 7 input tokens per answered request


def test_timeseries_buckets_add_up(traffic: Traffic) -> None:
    ts = traffic.admin("/admin/dashboard/timeseries?since=10m&bucket=60").json()
    points = ts["points"]
    assert ts["bucket_s"] == 60 and 10 <= len(points) <= 12
    assert sum(p["count"] for p in points) == len(PLAN)
    assert sum(p["errors"] for p in points) == 2
    busy = [p for p in points if p["count"]]
    assert busy and all(p["latency_p50"] <= p["latency_p99"] for p in busy)
    assert any(p["ttft_p50"] is not None for p in busy)
    assert traffic.admin("/admin/dashboard/timeseries?bucket=0").status_code == 400
    assert traffic.admin("/admin/dashboard/timeseries?since=soon").status_code == 400


def test_cost_by_day_model_and_team(traffic: Traffic) -> None:
    cost = traffic.admin("/admin/dashboard/cost?days=7").json()
    assert cost["days"] == 7
    today = time.strftime("%Y-%m-%d", time.gmtime())
    (day,) = [d for d in cost["data"] if d["day"] == today]
    assert day["requests"] == len(PLAN)
    assert set(day["by_model"]) >= {"echo"} and day["by_team"]
    assert isinstance(cost["cache_savings"], list)  # per route; its sums: tests/cost/test_savings.py
    assert traffic.admin("/admin/dashboard/cost?days=0").status_code == 400


def test_request_list_search_and_detail(traffic: Traffic) -> None:
    listed = traffic.admin("/admin/requests?limit=100").json()["data"]
    assert {r["request_id"] for r in listed} == set(traffic.ids)
    assert all("prompt" not in r and "response" not in r for r in listed)  # content only in detail
    errors = traffic.admin("/admin/requests?status=error").json()["data"]
    assert {r["request_id"] for r in errors} == set(traffic.error_ids)
    assert len(traffic.admin("/admin/requests?limit=3").json()["data"]) == 3
    wanted = traffic.ok_ids[0]
    found = traffic.admin(f"/admin/requests?q={wanted[-10:].upper()}").json()["data"]
    assert [r["request_id"] for r in traffic.admin(f"/admin/requests?q={wanted}").json()["data"]] == [wanted]
    assert traffic.admin("/admin/requests?q=req%25_").json()["data"] == []  # wildcards are literal
    assert [r["request_id"] for r in found] == [wanted]
    by_route = traffic.admin("/admin/requests?route=no-usage").json()["data"]
    assert {r["route"] for r in by_route} == {"no-usage"}
    detail = traffic.admin(f"/admin/requests/{wanted}").json()
    assert detail["request_id"] == wanted and detail["status"] == "ok"
    assert detail["attempts"] and detail["attempts"][0]["status"] == "ok"
    assert detail["input_tokens"] == 7 and detail["latency_ms"] > 0
    assert traffic.admin("/admin/requests/nope").status_code == 404


def test_alerts_endpoint_shows_the_engine_state(traffic: Traffic) -> None:
    deadline = time.monotonic() + 5
    while True:
        body = traffic.admin("/admin/alerts").json()
        states = {r["name"]: r["state"] for r in body["rules"]}
        if states == {"slow": "ok", "errors": "firing"} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["configured"] is True
    assert states == {"slow": "ok", "errors": "firing"}  # 2 of 11 failed, above 5%
    assert [e["alert"] for e in body["history"]] == ["errors"]
