"""Extension points, in one place (like llm's hookspecs): providers and stages.

    register_providers(register)   corral.providers.registry: register(type_name, factory)
    register_stages(register)      here: register(name, factory, after=..., before=...)

A stage plugin is a module (entry-point group ``corral.stages``) whose
``register_stages(register)`` names its stage, a factory that builds it from the
gateway's parts, and where it goes in the declared order (`core.pipeline.STAGE_ORDER`):
right after or right before a named stage. The order's constraints are checked when
the gateway starts, so a plugin cannot, say, put itself where it would see raw text
the privacy stage must hide from it unless it asks to run outside privacy.

    def register_stages(register):
        register("tag_team", lambda parts: TagTeam(parts.settings), after="privacy")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from corral.core.pipeline import STAGE_ORDER, Stage, place

ENTRY_POINT_GROUP = "corral.stages"


@dataclass(frozen=True, slots=True)
class StageParts:
    """What a plugin's stage may be built from: the running gateway's long-lived parts."""

    settings: Any  # corral.config.Settings
    routes: Any  # corral.routing.table.RouteTable
    kv: Any  # corral.store.KV
    db: Any  # corral.store.Database


StageFactory = Callable[[StageParts], Stage]


@dataclass(frozen=True, slots=True)
class StagePlugin:
    name: str
    factory: StageFactory
    after: str | None = None
    before: str | None = None


_runtime: list[StagePlugin] = []


def register_stage(name: str, factory: StageFactory, *, after: str | None = None,
                   before: str | None = None) -> None:
    """Add a stage plugin at run time (tests and applications embedding Corral)."""
    _runtime.append(StagePlugin(name, factory, after, before))


def unregister_stage(name: str) -> None:
    _runtime[:] = [p for p in _runtime if p.name != name]


def stage_plugins() -> list[StagePlugin]:
    """Every stage plugin: entry points first, then those registered at run time."""
    found: list[StagePlugin] = []

    def register(name: str, factory: StageFactory, *, after: str | None = None,
                 before: str | None = None) -> None:
        found.append(StagePlugin(name, factory, after, before))

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()(register)
    return [*found, *_runtime]


def plugin_order(plugins: Sequence[StagePlugin]) -> tuple[str, ...]:
    """The declared order with each plugin's stage placed; raises OrderError when it breaks it."""
    order = STAGE_ORDER
    for plugin in plugins:
        order = place(order, plugin.name, after=plugin.after, before=plugin.before)
    return order


def build_stages(plugins: Sequence[StagePlugin], parts: StageParts) -> list[Stage]:
    """Each plugin's stage, built; its `name` must be the name it was registered under."""
    stages = []
    for plugin in plugins:
        stage = plugin.factory(parts)
        if getattr(stage, "name", None) != plugin.name:
            raise ValueError(f"stage plugin '{plugin.name}' built a stage named "
                             f"{getattr(stage, 'name', None)!r}; the names must match")
        stages.append(stage)
    return stages
