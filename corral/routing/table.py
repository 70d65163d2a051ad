"""The route table: public model names -> deployments of real providers."""

from __future__ import annotations

from dataclasses import dataclass

from corral.config import ConfigError, ModelSettings, Settings, no_batch_api
from corral.core.context import RequestContext
from corral.core.errors import ModelNotFound
from corral.providers.base import Provider, ProviderConfig
from corral.providers.registry import create_provider


@dataclass(slots=True)
class Deployment:
    """One provider serving one upstream model for a route."""

    provider: Provider
    model: str
    weight: float = 1.0
    context_window: int | None = None
    priority: int = 0

    @property
    def name(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass(slots=True)
class Route:
    public_name: str
    deployments: list[Deployment]
    description: str | None = None
    settings: ModelSettings | None = None  # retry, timeouts, breaker, context, fallbacks

    @property
    def native_batch(self) -> bool:
        """Whether this route's batch lines go to its deployments' own batch API."""
        return self.settings is not None and self.settings.batch == "native"


class RouteTable:
    def __init__(self, routes: dict[str, Route], aliases: dict[str, str], providers: dict[str, Provider]):
        self.routes = routes
        self.aliases = aliases
        self.providers = providers
        self._serving: dict[str, tuple[str, ...]] = {}  # model -> serving_routes(model), filled on use

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteTable:
        providers: dict[str, Provider] = {}
        for name, p in settings.providers.items():
            providers[name] = create_provider(ProviderConfig(
                name=name,
                type=p.type,
                base_url=p.base_url,
                api_key=settings.provider_api_key(name),
                headers=p.headers,
                connect_timeout_s=p.connect_timeout_s,
                read_timeout_s=p.read_timeout_s,
                max_connections=p.max_connections,
                options=p.options,
            ))
        routes: dict[str, Route] = {}
        aliases: dict[str, str] = {}
        for public, m in settings.models.items():
            deployments = [
                Deployment(providers[d.provider], d.model, d.weight, d.context_window, d.priority)
                for d in m.deployments
            ]
            routes[public] = Route(public, deployments, m.description, m)
            if m.batch == "native":
                _check_native(public, deployments)
            for alias in m.aliases:
                aliases[alias] = public
        return cls(routes, aliases, providers)

    def lookup(self, model: str) -> Route:
        route = self.routes.get(model) or self.routes.get(self.aliases.get(model, ""))
        if route is None:
            available = ", ".join(sorted(self.routes)) or "none"
            raise ModelNotFound(
                f"The model '{model}' does not exist or is not configured on this gateway. "
                f"Available models: {available}.",
                param="model",
            )
        return route

    def public_name(self, model: str) -> str | None:
        """The route `model` (a public name or an alias) names, or None."""
        route = self.routes.get(model) or self.routes.get(self.aliases.get(model, ""))
        return None if route is None else route.public_name

    def resolve(self, ctx: RequestContext) -> Route:
        """The request's route, looked up once: the lifecycle resolves it before the stages run
        (`ctx.route`) and every stage and the router reuse it. A context that has none yet (a
        stage driven alone in a test) is resolved here, the same way."""
        route = ctx.route
        if isinstance(route, Route):
            return route
        route = ctx.route = self.lookup(ctx.request.model)
        ctx.public_model = route.public_name
        return route

    def serving_routes(self, model: str) -> tuple[str, ...]:
        """Public names of every route that may answer a request for `model`, itself first.

        The route's `fallbacks` and `content_policy_fallback`, followed transitively (the
        content-policy stage re-enters the router with the fallback's name, and the router
        then tries that route's fallbacks too). Which one serves is known only after the
        call, so a policy that must hold for the serving route (privacy) takes all of them.
        An unknown model gives `(model,)`: the router reports it. The table does not change
        once built, so each model's answer is worked out once (the privacy stage asks per request).
        """
        known = self._serving.get(model)
        if known is not None:
            return known
        try:
            first = self.lookup(model).public_name
        except ModelNotFound:
            return (model,)  # not kept: a client could send endless made-up names
        known = self._serving[model] = tuple(self._walk_serving(first))  # bounded: names and aliases
        return known

    def _walk_serving(self, first: str) -> list[str]:
        seen = [first]
        for name in seen:  # grows while iterating: a breadth-first walk
            settings = self.routes[name].settings
            if settings is None:
                continue
            nexts = [*settings.fallbacks, *filter(None, [settings.content_policy_fallback])]
            for ref in nexts:
                route = self.routes.get(ref) or self.routes.get(self.aliases.get(ref, ""))
                if route is not None and route.public_name not in seen:
                    seen.append(route.public_name)
        return seen

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def _check_native(public: str, deployments: list[Deployment]) -> None:
    """`batch: native` needs a batch API behind every deployment: a line may go to any of them.
    The file's check (corral.config) trusts `options.native_batch`; this one asks the adapter."""
    for i, dep in enumerate(deployments):
        if dep.provider.native_batch is None:
            raise ConfigError(no_batch_api(public, i, dep.provider.config.name, dep.provider.config.type))
