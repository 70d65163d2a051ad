"""The `corral` command."""

from __future__ import annotations

import gc
import logging
import sys
from typing import TYPE_CHECKING

import click

from corral import __version__
from corral.auth.cli import keys
from corral.batches.cli import batch
from corral.config import ConfigError, ServerSettings, Settings, load_settings
from corral.cost.cli import costs
from corral.cost.plan_cli import cost
from corral.governance.audit_cli import audit
from corral.governance.cli import governance, policy_events
from corral.governance.erasure_cli import erase_command
from corral.knowledge.cli import kb
from corral.limits.cli import budgets
from corral.observe.cli import logs, stats
from corral.observe.quality.cli import golden
from corral.observe.quality.feedback_cli import feedback
from corral.privacy.cli import pii
from corral.prompts.cli import prompts
from corral.simulator.cli import simulate

if TYPE_CHECKING:
    from corral.gateway import Gateway


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="corral")
def main() -> None:
    """Corral: a production gateway for LLM applications.

    Point any OpenAI client at it by changing base_url and api_key. Start with
    `corral serve`; see README.md for the five-minute tour.
    """


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _tune_gc() -> None:
    """Once serving: keep the collector off the start-up heap and run it less often.

    Modules, settings and pools live as long as the process; `gc.freeze()` moves them out
    of the collector's reach, so full collections stop walking them. Requests allocate
    many short-lived containers; a higher first threshold collects them in fewer, not
    larger, passes (what survives is only what is in flight). Together about 5% of the
    gateway's CPU per request.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


# uvicorn's timeout_graceful_shutdown by default: in-flight requests get this long to finish
GRACEFUL_S = ServerSettings().graceful_shutdown_s


@main.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to load "
              "(default: $CORRAL_CONFIG, then ./corral.yaml, then the built-in local model).")
@click.option("--host", help="Interface to listen on (default 127.0.0.1, or server.host).")
@click.option("--port", type=int, help="Port to listen on (default 8080, or server.port).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Gateway processes behind the port (default: the cores this process may use). "
                   "Without redis_url they share limits, breakers and the cache through the "
                   "supervisor (docs/deployment.md, \"Several processes\"); 1: one process, no supervisor.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log one line per HTTP request.")
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="Also run queue work (batches, background responses) in this process; with "
                   "--no-worker, `corral worker` processes do it.")
def serve(config: str | None, host: str | None, port: int | None, workers: int | None, log_level: str,
          access_log: bool, worker: bool) -> None:
    """Run the gateway (OpenAI-compatible API on /v1)."""
    import uvicorn

    from corral.api.access_log import redact_access_log
    from corral.api.app import create_app
    from corral.api.server import uvicorn_options
    from corral.api.supervisor import GracefulServer, Supervised, Supervisor, default_workers
    from corral.banner import print_banner

    settings = _settings(config)
    if host:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    supervised = Supervised.from_env()
    workers = workers or default_workers()
    if workers > 1 and supervised is None:
        argv = [sys.executable, "-m", "corral.cli", "serve", "--workers", "1", "--log-level", log_level,
                "--host", settings.server.host, "--port", str(settings.server.port),
                "--access-log" if access_log else "--no-access-log", "--worker" if worker else "--no-worker",
                *(["--config", config] if config else [])]
        supervisor = Supervisor(argv, workers, settings.server.host, settings.server.port,
                                shared_state=not settings.redis_url,
                                graceful_s=settings.server.graceful_shutdown_s)
        try:
            sys.exit(supervisor.run())
        except OSError as exc:  # the port: in use, or not ours to bind
            raise click.ClickException(f"cannot listen on {settings.server.host}:{settings.server.port}: "
                                       f"{exc.strerror or exc}") from None
    if supervised is not None:
        supervised.die_with_supervisor()

    def on_start(gateway: Gateway) -> None:
        if supervised is None or supervised.banner or gateway.bootstrap is not None:
            print_banner(gateway, settings)  # once: the first worker's first start (it made the keys)
        _tune_gc()
        if supervised is not None:
            supervised.ready()

    app = create_app(settings, on_start=on_start, run_jobs=worker)
    redact_access_log()
    server = GracefulServer(uvicorn.Config(app, **uvicorn_options(settings.server), log_level=log_level,
                                           access_log=access_log,
                                           timeout_graceful_shutdown=settings.server.graceful_shutdown_s))
    sockets = None if supervised is None else [supervised.socket(settings.server.host, settings.server.port)]
    server.run(sockets=sockets)  # a graceful stop on SIGTERM returns here (exit 0), not 143
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits


@main.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to load.")
def models(config: str | None) -> None:
    """Print the public model names and the deployments behind them."""
    settings = _settings(config)
    click.echo(f"configuration: {settings.source}")
    for name, model in settings.models.items():
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        click.echo(f"{name}{aliases}")
        for dep in model.deployments:
            ptype = settings.providers[dep.provider].type
            click.echo(f"  -> {dep.provider} [{ptype}] model={dep.model} weight={dep.weight:g}")


@main.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to load.")
def routes(config: str | None) -> None:
    """Print the effective route table: deployments by priority, windows, fallbacks, retry,
    timeouts, breaker and context policies."""
    from corral.routing.describe import describe_routes

    click.echo(describe_routes(_settings(config)))


@main.command("worker")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="corral.yaml to load "
              "(the same file as the gateway's: the queue is its database).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def worker_command(config: str | None, log_level: str) -> None:
    """Run queue work only (batches, background responses), no HTTP.

    Start as many as the work needs, on any machine that reaches the gateway's database
    (PostgreSQL for more than one machine). SIGTERM or Ctrl-C stops claiming, lets running
    work finish for jobs.shutdown_timeout_s, and gives the rest back to other workers.
    """
    import asyncio

    from corral.worker import run_worker

    settings = _settings(config)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker(settings, click.echo))


main.add_command(keys)
main.add_command(policy_events)
main.add_command(governance)
main.add_command(pii)
main.add_command(logs)
main.add_command(stats)
main.add_command(golden)
main.add_command(feedback)
main.add_command(costs)
main.add_command(cost)
main.add_command(budgets)
main.add_command(simulate)
main.add_command(batch)
main.add_command(kb)
main.add_command(audit)
main.add_command(erase_command)
main.add_command(prompts)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
