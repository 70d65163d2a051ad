"""`corral serve --no-worker` plus a separate `corral worker` process on the same database:
the server takes the batch, the worker process runs it, and SIGTERM stops the worker cleanly."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import orjson
import pytest
import yaml

from corral.api.app import create_app
from corral.config import load_settings
from corral.simulator import SimSettings, SimulatorThread
from tests.conftest import serve_in_thread


def _config(tmp_path: Path, sim_url: str) -> Path:
    path = tmp_path / "corral.yaml"
    path.write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"),
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}},
        "models": {"gpt-sim": {"deployments": [{"provider": "sim", "model": "gpt-sim"}]}},
        "jobs": {"poll_interval_s": 0.05},
        "batches": {"check_interval_s": 0.1},
    }))
    return path


def test_a_worker_process_runs_the_batches_a_server_without_workers_took(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", "unused")  # the simulator asks for no key; the worker inherits it
    with SimulatorThread(SimSettings(output_tokens=4)) as sim:
        config = _config(tmp_path, sim.url)
        for server in serve_in_thread(create_app(load_settings(config), warmup=False, run_jobs=False)):
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)
            lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": "gpt-sim", "messages": [{"role": "user", "content": f"hi {i}"}]}}
                     for i in range(5)]
            data = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
            batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
            time.sleep(0.5)
            assert client.batches.retrieve(batch.id).status == "validating", "no worker in the server"
            worker = subprocess.Popen([sys.executable, "-m", "corral.cli", "worker", "-c", str(config)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.monotonic() + 60
                while (done := client.batches.retrieve(batch.id)).status not in ("completed", "failed"):
                    assert time.monotonic() < deadline and worker.poll() is None, "worker did not finish it"
                    time.sleep(0.2)
                assert done.status == "completed" and done.request_counts.completed == 5
                output = client.files.content(done.output_file_id).read().splitlines()
                ids = sorted(orjson.loads(line)["custom_id"] for line in output)
                assert ids == [f"c{i}" for i in range(5)]
            finally:
                worker.send_signal(signal.SIGTERM)
                out, _ = worker.communicate(timeout=30)
            assert worker.returncode == 0, out
            assert "corral worker" in out and "batch_item" in out
