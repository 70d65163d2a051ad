"""`make example`: Corral and the report service as two processes, one report, then both stopped.

1. a key for the service (`corral keys create --team reports`) in a temporary CORRAL_HOME, and a
   fresh whsec_ secret for Corral's webhooks to the service (REPORTS_WEBHOOK_SECRET, given to both);
2. `corral serve` on a copy of examples/report-service/corral.yaml whose webhook endpoint points
   at the port the service gets (local model, local embeddings);
3. `service.py` against it, which syncs knowledge/ into the `report-knowledge` vector store;
4. one report for `customers.request(1)`, polled until done and printed (with whether the service
   learned it finished from Corral's webhook or its fallback poll), with a check that the
   customer's real name (redacted before the model, restored by Corral) is in it;
5. both processes stopped with SIGINT, the temporary directory removed (--keep keeps it).

Offline: nothing here reaches the network.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

import customers  # noqa: E402  the example's synthetic customers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(what: str, check: Any, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}; its log:\n{log.read_text()[-4000:]}")
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"{what} not ready after {timeout:.0f} s; its log:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes] | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 20 s; killing it", file=sys.stderr)
        process.kill()
        process.wait()


def config_for(service_url: str) -> str:
    """corral.yaml with its webhook endpoint on the service's port (the file says 8090)."""
    text = (HERE / "corral.yaml").read_text()
    shipped = "http://127.0.0.1:8090/corral/events"
    if shipped not in text:
        raise SystemExit(f"corral.yaml no longer has the webhook endpoint {shipped}")
    return text.replace(shipped, f"{service_url}/corral/events")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="which synthetic customer (customers.request)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args()
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="corral-report-example-"))
    corral_port, service_port = free_port(), free_port()
    corral_url, service_url = f"http://127.0.0.1:{corral_port}", f"http://127.0.0.1:{service_port}"
    config = tmp / "corral.yaml"
    config.write_text(config_for(service_url))
    env = {**os.environ, "CORRAL_HOME": str(tmp / "corral"), "CORRAL_CONFIG": str(config),
           "REPORTS_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode()}
    corral = service = None
    try:
        made = subprocess.run([str(BIN / "corral"), "keys", "create", "--name", "report-service",
                               "--team", "reports", "--json"], env=env, check=True, capture_output=True)
        key = json.loads(made.stdout)["key"]

        say(f"starting Corral on {corral_url} (home {tmp / 'corral'})")
        corral_log = tmp / "corral.log"
        serve = [str(BIN / "corral"), "serve", "--workers", "1", "--port", str(corral_port)]
        corral = subprocess.Popen(serve, env=env, cwd=tmp, stdout=corral_log.open("wb"),
                                  stderr=subprocess.STDOUT)
        wait_until("Corral", lambda: call("GET", corral_url + "/readyz")[0] == 200, corral, corral_log, 120)

        say(f"starting the report service on {service_url}")
        service_log = tmp / "service.log"
        service = subprocess.Popen(
            [sys.executable, str(HERE / "service.py"), "--corral-url", corral_url,
             "--port", str(service_port), "--model", "reports", "--db", str(tmp / "reports.db"),
             "--poll-interval", "0.5"],
            env={**env, "CORRAL_API_KEY": key}, cwd=tmp, stdout=service_log.open("wb"),
            stderr=subprocess.STDOUT)
        wait_until("the report service",
                   lambda: call("GET", service_url + "/healthz")[1]["knowledge"] == "ready",
                   service, service_log, 180)
        health = call("GET", service_url + "/healthz")[1]
        say(f"knowledge synced into vector store {health['vector_store_id']}")

        request = customers.request(args.seed)
        name = str(request["customer"]["full_name"])
        status, job = call("POST", service_url + "/reports", request)
        if status != 202:
            raise SystemExit(f"POST /reports answered {status}: {job}")
        say(f"submitted {job['id']}: a {request['report_type']} report for {name}")
        deadline = time.monotonic() + 150
        while job["status"] not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"report not done in time: {job}")
            time.sleep(0.5)
            job = call("GET", f"{service_url}/reports/{job['id']}")[1]
        say(f"report {job['status']} (Corral response {job['response_id']}, seen by "
            f"{job['finished_by']}, usage {json.dumps(job['usage'])})\n")
        if job["status"] != "completed":
            print(f"error: {job['error']}\n--- service log ---\n{service_log.read_text()[-3000:]}")
            return 1
        print("-" * 78 + f"\n{job['report']}\n" + "-" * 78)
        parts = [part for part in name.split() if part in job["report"]]
        if name in job["report"]:
            print(f"The customer's name, {name!r}, is in the report: the model saw a placeholder and Corral "
                  "restored the name.")
        elif parts:
            print(f"Part of the customer's name ({' '.join(parts)}) is in the report, restored by Corral.")
        else:
            print(f"The model did not write the customer's name ({name!r}) this time: SmolLM2-135M does not "
                  "always copy it.")
        status, _ = call("POST", f"{service_url}/reports/{job['id']}/feedback", {"rating": "up"})
        print(f"feedback on the report: HTTP {status}")
        return 0
    finally:
        stop(service, "the report service")
        stop(corral, "Corral")
        say("both processes stopped")
        if args.keep:
            print(f"logs and databases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
