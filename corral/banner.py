"""What `corral serve` prints when it is ready, including first-start keys (shown once)."""

from __future__ import annotations

import sys

import click

from corral.config import Settings
from corral.gateway import Gateway


def print_banner(gateway: Gateway, settings: Settings) -> None:
    try:
        _print(gateway, settings)
    finally:
        sys.stdout.flush()  # when stdout is a pipe or a log file, the keys must not sit in a buffer


def connect_url(host: str, port: int) -> str:
    """Where a client on this machine reaches the server: a wildcard bind address (0.0.0.0,
    ::) is where the server listens, not an address to paste into curl."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{port}"


def _print(gateway: Gateway, settings: Settings) -> None:
    host, port = settings.server.host, settings.server.port
    base = connect_url(host, port)
    model = next(iter(gateway.routes.routes), "MODEL")
    where = f"{base}/v1" if base == f"http://{host}:{port}" else f"{base}/v1 (listening on {host}:{port})"
    click.echo(f"Corral is serving on {where} (config: {settings.source})")
    click.echo(f"Models: {', '.join(gateway.routes.routes)}")
    boot = gateway.bootstrap
    if boot is None:
        return
    key = boot.default_key
    click.secho("\nFirst start: two API keys were created. They are shown only now; "
                "only their hashes are stored.", fg="yellow")
    click.echo(f"  admin key (admin APIs):        {boot.admin_key}")
    click.echo(f"  application key (inference):   {key}\n")
    click.echo("Try it with curl:\n")
    click.echo(f"  curl {base}/v1/chat/completions \\\n"
               f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
               f"    -d '{{\"model\": \"{model}\", \"stream\": true, "
               f"\"messages\": [{{\"role\": \"user\", \"content\": \"Say hello\"}}]}}'\n")
    click.echo("Or with the openai Python SDK:\n")
    click.echo("  from openai import OpenAI\n"
               f"  client = OpenAI(base_url=\"{base}/v1\", api_key=\"{key}\")\n"
               f"  for chunk in client.chat.completions.create(model=\"{model}\", stream=True,\n"
               "          messages=[{\"role\": \"user\", \"content\": \"Say hello\"}]):\n"
               "      print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)\n")
