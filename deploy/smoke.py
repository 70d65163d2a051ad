"""Build Corral's image and check it for real against a Docker daemon; not part of `make test`.

    .venv/bin/python deploy/smoke.py                     # official python image (needs Docker Hub)
    .venv/bin/python deploy/smoke.py --python-image corral-local/python:3.11-bookworm  # offline base
    .venv/bin/python deploy/smoke.py --skip-build --tag corral:test

Runs the image the way deploy/k8s/gateway.yaml does (uid 10001, read-only root filesystem, no
capabilities, writable /var/lib/corral and /tmp only, default SQLite home) and checks:

- offline (`--network none`, no config): HEALTHCHECK turns healthy, /healthz and /readyz
  answer, the bootstrap key from `docker logs` gets a completion from the built-in model;
- networked (bridge, port published): a completion through Corral from the upstream simulator
  running on the host, then `docker stop` during an open stream: the stream ends with [DONE]
  and the container exits 0 before the grace period;
- with --compose: deploy/compose.yaml up (images built by deploy/local-service-images.sh unless
  POSTGRES_IMAGE, REDIS_IMAGE, HAPROXY_IMAGE say otherwise), /readyz and completions through
  haproxy, requests while one gateway stops, every container exits 0 on `stop`, then `down -v`.

Prints one PASS/FAIL line per check, then a JSON summary with the timings; exit code 1 if a
check failed. Needs the Docker CLI and a daemon; timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# deploy/local-service-images.sh builds these; override with the variables to test other images.
COMPOSE_IMAGES = {
    var: os.environ.get(var, default) for var, default in (
        ("POSTGRES_IMAGE", "corral-local/postgres:15-pgvector"),
        ("REDIS_IMAGE", "corral-local/redis:7.0"),
        ("HAPROXY_IMAGE", "corral-local/haproxy:2.6"))}
KEY_RE = re.compile(r"application key \(inference\):\s+(sk-corral-\S+)")
GRACE_S = 30  # compose.yaml's stop_grace_period for a gateway
SIM_TOKENS, SIM_TPS = 60, 20.0  # a 3 s stream: it must finish inside the 10 s drain

RESULTS: list[dict[str, Any]] = []
NUMBERS: dict[str, Any] = {}


def check(name: str, ok: bool, detail: Any = "") -> bool:
    RESULTS.append({"check": name, "ok": ok, "detail": detail})
    print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail != "" else ""), flush=True)
    return ok


def docker(*args: str, check_rc: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check_rc and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}...: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(image: str, tag: str, log: Path) -> bool:
    start = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(
            ["nice", "-n", "10", "docker", "build", "-f", "deploy/Dockerfile",
             "--build-arg", f"PYTHON_IMAGE={image}", "-t", tag, "."],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    NUMBERS["build_s"] = round(time.monotonic() - start, 1)
    tail = "" if rc == 0 else " | ".join(log.read_text().splitlines()[-5:])
    return check("build", rc == 0, f"{NUMBERS['build_s']} s, log {log}{tail}")


def run(name: str, tag: str, *extra: str) -> float:
    """Start a container as k8s/gateway.yaml runs the pod; returns the monotonic start time."""
    docker("rm", "-f", name, check_rc=False)
    start = time.monotonic()
    docker("run", "-d", "--name", name, "--user", "10001:10001", "--read-only",
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "--mount", "type=volume,dst=/var/lib/corral",  # emptyDir "home" (an anonymous volume)
           "--tmpfs", "/tmp:rw,mode=1777", *extra, tag)
    return start


def wait_healthy(name: str, start: float, limit_s: float = 150) -> bool:
    while time.monotonic() - start < limit_s:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name))
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy" or not state["Running"]:
            break
        time.sleep(0.5)
    took = round(time.monotonic() - start, 1)
    NUMBERS[f"{name}_run_to_healthy_s"] = took  # HEALTHCHECK runs every 15 s: a step function
    NUMBERS[f"{name}_start_to_serving_s"] = serving_after(name)
    return check(f"{name}: HEALTHCHECK healthy", health == "healthy", f"{health} after {took} s")


def logs(name: str) -> str:
    """stdout and stderr of the container (the banner and the log lines)."""
    proc = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
    return proc.stdout + proc.stderr


def _stamp(text: str) -> datetime:
    """Docker's RFC 3339 nanosecond timestamps, cut to what datetime parses."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}+00:00")


def serving_after(name: str) -> float | None:
    """Seconds from the container's start to uvicorn's "Application startup complete".

    Also notes creation to start: the storage driver preparing the root filesystem (with vfs, a
    copy of the whole image).
    """
    created, started_at = docker("inspect", "-f", "{{.Created}} {{.State.StartedAt}}", name).split()
    started = _stamp(started_at)
    NUMBERS[f"{name}_created_to_started_s"] = round((started - _stamp(created)).total_seconds(), 1)
    proc = subprocess.run(["docker", "logs", "-t", name], capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        if "Application startup complete" in line:
            return round((_stamp(line.split()[0]) - started).total_seconds(), 1)
    return None


def app_key(name: str) -> str:
    match = KEY_RE.search(logs(name))
    check(f"{name}: application key in docker logs", match is not None)
    return match[1] if match else ""


def http(url: str, key: str = "", body: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:300]
    except OSError as exc:  # refused, reset: no HTTP answer at all
        return 0, repr(exc)


# Runs inside the offline container (no curl there): probes and a completion on loopback.
INSIDE = """
import json, os, urllib.request as r
out = {}
for path in ("/healthz", "/readyz"):
    with r.urlopen("http://127.0.0.1:8080" + path, timeout=5) as resp:
        out[path] = [resp.status, json.loads(resp.read())]
req = r.Request("http://127.0.0.1:8080/v1/chat/completions", headers={
    "Authorization": "Bearer " + os.environ["KEY"], "Content-Type": "application/json"},
    data=json.dumps({"model": "local", "max_tokens": 16,
                     "messages": [{"role": "user", "content": "Say hello"}]}).encode())
with r.urlopen(req, timeout=120) as resp:
    out["chat"] = [resp.status, json.loads(resp.read())]
req = r.Request("http://127.0.0.1:8080/v1/embeddings", headers=req.headers,
                data=json.dumps({"model": "local-embed", "input": "hello"}).encode())
with r.urlopen(req, timeout=120) as resp:
    out["embed"] = [resp.status, len(json.loads(resp.read())["data"][0]["embedding"])]
print(json.dumps(out))
"""


def offline(tag: str) -> None:
    name = "corral-smoke-offline"
    start = run(name, tag, "--network", "none")
    try:
        if not wait_healthy(name, start):
            print(docker("logs", "--tail", "30", name, check_rc=False))
            return
        key = app_key(name)
        uid = docker("exec", name, "id", "-u")
        check(f"{name}: runs as uid 10001", uid == "10001", uid)
        write = subprocess.run(["docker", "exec", name, "touch", "/opt/corral/x"], capture_output=True)
        check(f"{name}: root filesystem read-only", write.returncode != 0)
        out = json.loads(docker("exec", "-e", f"KEY={key}", name, "python", "-c", INSIDE, timeout=180))
        check(f"{name}: /healthz", out["/healthz"][0] == 200, out["/healthz"][1])
        check(f"{name}: /readyz", out["/readyz"][0] == 200, out["/readyz"][1])
        chat = out["chat"][1]
        text = chat["choices"][0]["message"]["content"] if out["chat"][0] == 200 else chat
        check(f"{name}: built-in model 'local' answers with no network", bool(text), repr(text)[:80])
        check(f"{name}: built-in embeddings 'local-embed' with no network", out["embed"][0] == 200,
              f"{out['embed'][1]} dimensions")
    finally:
        docker("rm", "-f", "-v", name, check_rc=False)


def bridge_address() -> str:
    """The host's address on Docker's default bridge, which containers there can reach."""
    net = json.loads(docker("network", "inspect", "bridge", "-f", "{{json .}}"))
    gateway = next((c["Gateway"] for c in net["IPAM"]["Config"] if c.get("Gateway")), "")
    if gateway:
        return str(gateway)
    device = net["Options"].get("com.docker.network.bridge.name", "docker0")  # no Gateway: ask the device
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", device], capture_output=True, text=True).stdout
    return out.split()[3].split("/")[0]


def start_simulator(host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        sim = subprocess.Popen(
            [sys.executable, "-m", "corral.cli", "simulate", "--host", host, "--port", str(port),
             "--tps", str(SIM_TPS), "--output-tokens", str(SIM_TOKENS)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90  # imports are slow on a loaded machine
    while time.monotonic() < deadline and sim.poll() is None:
        try:
            urllib.request.urlopen(f"http://{host}:{port}/sim/health", timeout=2).close()
            return sim
        except OSError:
            time.sleep(0.5)
    sim.terminate()
    raise RuntimeError(f"the simulator did not start: {log.read_text()[-500:]}")


def stream(url: str, key: str, seen: dict[str, Any]) -> None:
    """Read one streamed completion, noting when the first chunk came and whether [DONE] did."""
    body = {"model": "sim-gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    seen.update(chunks=0, done=False, error=None)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            for raw in resp:
                line = raw.decode().strip()
                if line == "data: [DONE]":
                    seen["done"], seen["done_at"] = True, time.monotonic()
                elif line.startswith("data:"):
                    seen["chunks"] += 1
                    seen.setdefault("first", time.monotonic())
    except Exception as exc:  # noqa: BLE001 - reported as the check's detail
        seen["error"] = repr(exc)


def networked(tag: str, workdir: Path) -> None:
    name = "corral-smoke-net"
    gateway_ip = bridge_address()
    sim_port, port = free_port(), free_port()
    workdir.mkdir(mode=0o755, exist_ok=True)
    sim = start_simulator(gateway_ip, sim_port, workdir.parent / "simulator.log")
    config = workdir / "corral.yaml"
    config.write_text(
        "providers:\n"
        f"  sim: {{type: openai, base_url: 'http://{gateway_ip}:{sim_port}/v1', api_key_env: SIM_KEY}}\n"
        "models:\n"
        "  sim-gpt: {deployments: [{provider: sim, model: gpt-4o-mini}]}\n")
    config.chmod(0o644)
    start = run(name, tag, "-p", f"127.0.0.1:{port}:8080", "-e", "SIM_KEY=sim",
                "-e", "CORRAL_CONFIG=/etc/corral/corral.yaml", "-v", f"{workdir}:/etc/corral:ro")
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(name, start):
            print(docker("logs", "--tail", "30", name, check_rc=False))
            return
        key = app_key(name)
        for path in ("/healthz", "/readyz"):
            status, body = http(base + path)
            check(f"{name}: {path} from the host", status == 200, body)
        status, body = http(base + "/v1/chat/completions", key, {
            "model": "sim-gpt", "messages": [{"role": "user", "content": "hi"}]})
        ok = status == 200 and body["usage"]["completion_tokens"] == SIM_TOKENS
        check(f"{name}: completion through the container from the host's simulator", ok,
              body["usage"] if status == 200 else body)
        seen: dict[str, Any] = {}
        reader = threading.Thread(target=stream, args=(base + "/v1/chat/completions", key, seen))
        reader.start()
        while "first" not in seen and reader.is_alive():
            time.sleep(0.05)
        stop_start = time.monotonic()
        docker("stop", "-t", str(GRACE_S), name, timeout=GRACE_S + 30)
        NUMBERS["stop_s"] = round(time.monotonic() - stop_start, 1)
        reader.join(10)
        NUMBERS["stop_exit_code"] = int(docker("inspect", "-f", "{{.State.ExitCode}}", name))
        if seen.get("done_at"):
            NUMBERS["stream_done_after_stop_s"] = round(seen["done_at"] - stop_start, 1)
        check(f"{name}: open stream drained on docker stop",
              seen["done"] and seen["chunks"] >= SIM_TOKENS and not seen["error"]
              and seen.get("first", stop_start) < stop_start,
              {k: seen.get(k) for k in ("chunks", "done", "error")})
        check(f"{name}: exit 0 within the {GRACE_S} s grace period",
              NUMBERS["stop_exit_code"] == 0 and NUMBERS["stop_s"] < GRACE_S,
              f"exit {NUMBERS['stop_exit_code']} after {NUMBERS['stop_s']} s")
    finally:
        docker("rm", "-f", "-v", name, check_rc=False)
        sim.terminate()
        sim.wait(10)


def compose(tag: str, workdir: Path) -> None:
    """deploy/compose.yaml with local images: haproxy -> 2 gateways, a worker, PostgreSQL, Redis.

    `docker compose` (v2) if the CLI has it, else docker-compose v1, which refuses the top-level
    `name:` (a copy without it runs, with `-p corral` for the same project name).
    """
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    file = DEPLOY / "compose.yaml"
    if not v2:
        file = workdir / "compose-v1.yaml"
        file.write_text(re.sub(r"(?m)^name: .*\n", "", (DEPLOY / "compose.yaml").read_text()))
    base = ["docker", "compose"] if v2 else ["docker-compose", "--compatibility"]
    cmd = [*base, "-p", "corral-smoke", "--project-directory", str(DEPLOY), "-f", str(file)]
    port = free_port()
    env = {**os.environ, "CORRAL_IMAGE": tag, "CORRAL_HTTP_PORT": str(port), **COMPOSE_IMAGES}
    url = f"http://127.0.0.1:{port}"

    def sh(*args: str, timeout: float = 300) -> str:
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=timeout,
                              check=True).stdout

    start = time.monotonic()
    try:
        sh("up", "-d", "--no-build")
        status: Any = None
        while time.monotonic() - start < 180 and status != 200:
            status = http(url + "/readyz", timeout=5)[0]
            time.sleep(1)
        NUMBERS["compose_up_to_ready_s"] = round(time.monotonic() - start, 1)
        took = NUMBERS["compose_up_to_ready_s"]
        if not check("compose: /readyz through haproxy", status == 200, f"{status} after {took} s"):
            return
        ids = sh("ps", "-q", "gateway").split()
        key = next((m[1] for m in (KEY_RE.search(logs(i)) for i in ids) if m), "")
        chat = {"model": "local", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
        served = [http(url + "/v1/chat/completions", key, chat)[0] for _ in range(4)]
        check("compose: completions through haproxy (both gateways)", served == [200] * 4, served)
        stopper = threading.Thread(target=docker, args=("stop", "-t", str(GRACE_S), ids[0]),
                                   kwargs={"timeout": GRACE_S + 30})
        stopper.start()
        time.sleep(0.3)  # the gateway is draining or gone: haproxy retries on the other one
        during = [http(url + "/v1/chat/completions", key, chat)[0] for _ in range(6)]
        stopper.join()
        check("compose: requests while one gateway stops", during == [200] * 6, during)
        stop_start = time.monotonic()
        sh("stop")
        NUMBERS["compose_stop_s"] = round(time.monotonic() - stop_start, 1)
        codes = {i[:12]: docker("inspect", "-f", "{{.Name}} {{.State.ExitCode}}", i)
                 for i in sh("ps", "-a", "-q").split()}
        check("compose: every container exits 0 on stop", all(c.endswith(" 0") for c in codes.values()),
              f"{sorted(codes.values())} in {NUMBERS['compose_stop_s']} s")
    finally:
        subprocess.run([*cmd, "down", "-v"], env=env, capture_output=True, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python-image", default="python:3.11.11-slim-bookworm",
                        help="base image (the Dockerfile's PYTHON_IMAGE)")
    parser.add_argument("--tag", default="corral:smoke")
    parser.add_argument("--skip-build", action="store_true", help="test an image already built as --tag")
    parser.add_argument("--compose", action="store_true",
                        help="also run deploy/compose.yaml (POSTGRES_IMAGE, REDIS_IMAGE, HAPROXY_IMAGE)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-smoke-") as tmp:
        workdir = Path(tmp)
        if args.skip_build or build(args.python_image, args.tag, workdir / "build.log"):
            size = int(docker("image", "inspect", "-f", "{{.Size}}", args.tag))
            NUMBERS["image_mb"] = round(size / 1e6)
            offline(args.tag)
            networked(args.tag, workdir / "etc")
            if args.compose:
                compose(args.tag, workdir)
    failed = [r["check"] for r in RESULTS if not r["ok"]]
    print(json.dumps({"tag": args.tag, "python_image": args.python_image, "numbers": NUMBERS,
                      "passed": len(RESULTS) - len(failed), "failed": failed}, indent=2))
    return 1 if failed or not RESULTS else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
