"""Settings: an optional `corral.yaml` plus environment variables.

With no file Corral serves the built-in local model and nothing else. Provider API
keys are only ever read from environment variables named in the file (`api_key_env`),
never from the file itself, so configuration can be committed and shared safely.
Invalid configuration fails at start with the file, the key path and what is wrong.

Each feature's section is a model in that feature's `settings` module (`privacy.settings`,
`cost.settings`, `observe.settings`); this module only composes them, and imports no
feature's runtime, so reading a configuration file loads no HTTP client, store or detector
(tests/test_layers.py holds it to that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from corral.batches.settings import BatchSettings
from corral.config_secrets import literal_secrets
from corral.core.ownership import Ownership
from corral.cost.settings import PricingSettings
from corral.files.settings import FileSettings
from corral.governance.profiles import apply_profile
from corral.governance.settings import GovernanceSettings
from corral.jobs.settings import JobSettings
from corral.knowledge.settings import KnowledgeSettings, RouteKnowledge
from corral.limits.settings import LimitSettings
from corral.observe.settings import AlertSettings, ObservabilitySettings
from corral.privacy.settings import PrivacyRule, PrivacySettings
from corral.responses.settings import ResponseSettings
from corral.webhooks.settings import WebhookSettings

DEFAULT_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
LOCAL_MODEL_NAME = "smollm2-135m-instruct"
LOCAL_EMBED_MODEL_NAME = "all-minilm-l6-v2"  # the built-in embedding model (providers/local_embed.py)


class ConfigError(Exception):
    """Configuration cannot be used; the message names the file and the key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderSettings(_Strict):
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(600.0, gt=0)
    max_connections: int = Field(200, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_literal_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError(
                "api_key must not be written in the file; put the key in an environment "
                "variable and name it with api_key_env"
            )
        return data


class DeploymentSettings(_Strict):
    provider: str
    model: str
    weight: float = Field(1.0, gt=0)
    priority: int = Field(0, ge=0)  # lower tiers are tried first; weights apply within a tier
    context_window: int | None = Field(None, gt=0)  # default: the model catalog, then 8192


class RetrySettings(_Strict):
    """Retries on 429, 5xx, 529, timeouts and connection errors (never on other 4xx)."""

    max_attempts: int = Field(3, ge=1, le=20)  # per request, across all deployments and fallbacks
    base_delay_s: float = Field(0.2, ge=0)
    max_delay_s: float = Field(8.0, ge=0)
    budget_ratio: float = Field(0.2, ge=0, le=10)  # retries allowed per recent request
    budget_min_per_s: float = Field(1.0, ge=0)  # retries always allowed at this rate
    budget_window_s: float = Field(10.0, gt=0)


class TimeoutSettings(_Strict):
    connect_s: float = Field(5.0, gt=0)
    first_token_s: float = Field(30.0, gt=0)  # request sent -> first chunk (or whole answer)
    idle_s: float = Field(30.0, gt=0)  # longest gap between two stream chunks
    total_s: float = Field(300.0, gt=0)  # the request's overall deadline, retries included


class BreakerSettings(_Strict):
    failure_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(10, ge=1)
    window_s: float = Field(30.0, gt=0)
    open_s: float = Field(30.0, gt=0)
    half_open_probes: int = Field(1, ge=1)


class ContextSettings(_Strict):
    policy: Literal["fallback", "truncate", "summarize", "error"] = "truncate"
    reserve_output_tokens: int = Field(512, ge=0)  # room kept for the answer
    summarize_model: str | None = None  # public model name; default: the route itself


class RouteCache(_Strict):
    """``models.<name>.cache``: answer identical requests from the exact cache (off by default:
    a cached answer is content kept at rest, and a stale answer is a product decision).
    Who may share an entry, and which requests never do, is in docs/failures.md ("Exact cache")."""

    exact: bool = False
    ttl_s: float = Field(3600.0, gt=0, le=30 * 86400)  # the oldest answer a hit may replay
    exact_when_sampling: bool = False  # also replay answers to temperature > 0 / top_p < 1 requests
    # Also answer a request whose last user message means the same as a cached one's (everything
    # else identical): corral.cache.semantic. `similarity`: the cosine a candidate needs, default
    # the threshold measured on bench/data/semantic_cache (corral.cache.semantic_index).
    semantic: bool = False
    similarity: float | None = Field(None, gt=0, le=1)


PROMPT_REF_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}@([a-z][a-z0-9_-]{0,39}|[1-9][0-9]{0,8})$"


class ModelSettings(_Strict):
    deployments: list[DeploymentSettings] = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None
    fallbacks: list[str] = Field(default_factory=list)  # other public models, tried in order
    retry: RetrySettings = Field(default_factory=RetrySettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    cache_fallback: bool = True  # serve a cached identical answer when everything failed
    cache: RouteCache | None = None  # serve identical requests from the exact cache (opt-in)
    degraded_message: str | None = None  # last resort: answer with this text, marked degraded
    content_policy_fallback: str | None = None  # public model to try after a refusal
    privacy: PrivacyRule | None = None  # this route's personal-data policy (default: privacy.default)
    knowledge: RouteKnowledge | None = None  # ground every chat request in these vector stores
    # How /v1/batches lines for this route run: `corral` calls the route like a live request;
    # `native` forwards them to the deployments' own batch API (about half the price, answers
    # within 24 h; docs/batches.md). Every deployment must have one (checked when the file is
    # read, from its providers' settings, and at start, against their adapters).
    batch: Literal["corral", "native"] = "corral"
    # A registry system prompt sent first with every chat request (docs/prompts.md): "name@label"
    # follows the label, "name@3" pins version 3 (the pattern is corral.prompts.names'). With a
    # protected label, a client may not send its own system/developer message or another
    # `prompt` unless prompt_override is true.
    prompt: str | None = Field(None, pattern=PROMPT_REF_PATTERN)
    prompt_override: bool = False
    # A parameter a deployment cannot honour (an OpenAI-only one on an Anthropic route): `error`
    # refuses the request with a 400 naming it; `drop` removes it; `translate` maps it to the
    # provider's equivalent where one exists, else drops it (corral/routing/params.py). Dropped
    # and translated parameters are listed in the record and the x-corral-dropped-params header.
    unsupported_params: Literal["error", "drop", "translate"] = "error"


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Multipart bodies of pass-through endpoints (audio to transcribe, images to edit): OpenAI
    # takes files up to 25 MB, plus the form around them.
    max_form_bytes: int = Field(26 * 1024 * 1024, ge=1024)
    auth_cache_ttl_s: float = Field(1.0, ge=0)
    # The HTTP edge (corral/api/server.py): slow or oversized requests cannot hold sockets.
    max_header_bytes: int = Field(64 * 1024, ge=1024)  # request line + headers; more gets 431
    header_timeout_s: float = Field(10.0, gt=0)  # connection open / request start -> headers done
    body_timeout_s: float = Field(60.0, gt=0)  # headers done -> whole body received
    keep_alive_timeout_s: float = Field(5.0, gt=0)  # idle time between requests on one connection
    # SIGTERM -> open requests get this long; streams still open 1 s before it end with an error
    # event (corral.core.drain). Keep a deployment's stop grace period above it (docs/deployment.md).
    graceful_shutdown_s: int = Field(10, ge=1)  # whole seconds (uvicorn takes an int)


class Settings(_Strict):
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    server: ServerSettings = Field(default_factory=ServerSettings)
    home: Path = Path(".corral")
    database_url: str | None = None
    redis_url: str | None = None
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    files: FileSettings = Field(default_factory=FileSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    batches: BatchSettings = Field(default_factory=BatchSettings)
    responses: ResponseSettings = Field(default_factory=ResponseSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)  # rate limits and budgets
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)  # docs/retention.md
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)  # docs/webhooks.md
    # Who sees stored files, batches, responses and vector stores: the team (default) or the key.
    ownership: Ownership = "team"
    source: str = "(defaults)"

    # The paths a compliance preset filled in (governance.profile; corral governance profile).
    _preset_filled: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _compliance_preset(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Fill `governance.profile`'s defaults under the file's own values (docs/compliance.md)."""
        filled: frozenset[str] = frozenset()
        if isinstance(data, dict):
            data, filled = apply_profile(data)
        settings = handler(data)
        settings._preset_filled = filled
        return settings

    @property
    def preset_filled(self) -> frozenset[str]:
        return self._preset_filled

    @field_validator("models")
    @classmethod
    def _aliases_unique(cls, models: dict[str, ModelSettings]) -> dict[str, ModelSettings]:
        seen: dict[str, str] = {}
        for name, model in models.items():
            for public in (name, *model.aliases):
                if public in seen and seen[public] != name:
                    raise ValueError(f"model name '{public}' is used by both '{seen[public]}' and '{name}'")
                seen[public] = name
        return models

    @model_validator(mode="after")
    def _fallbacks_name_known_models(self) -> Settings:
        public = set(self.models) | {a for m in self.models.values() for a in m.aliases}
        for name, model in self.models.items():
            refs: list[tuple[str, str | None]] = [
                (f"fallbacks.{i}", f) for i, f in enumerate(model.fallbacks)]
            refs += [("context.summarize_model", model.context.summarize_model),
                     ("content_policy_fallback", model.content_policy_fallback)]
            for where, ref in refs:
                if ref is not None and ref not in public:
                    raise ValueError(f"models.{name}.{where}: unknown model '{ref}'")
        return self

    @model_validator(mode="after")
    def _limits_name_known_routes(self) -> Settings:
        public = set(self.models) | {a for m in self.models.values() for a in m.aliases}
        for name in self.limits.routes:
            if name not in public:
                raise ValueError(f"limits.routes.{name}: unknown model '{name}' (routes are limited by the "
                                 "public name clients send)")
        return self

    @model_validator(mode="after")
    def _deployments_name_known_providers(self) -> Settings:
        for name, model in self.models.items():
            for i, dep in enumerate(model.deployments):
                if dep.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f"models.{name}.deployments.{i}.provider: unknown provider "
                        f"'{dep.provider}' (defined: {known})"
                    )
        return self

    @model_validator(mode="after")
    def _native_batch_routes_name_batch_apis(self) -> Settings:
        """`batch: native` needs a batch API behind every deployment: checked here from the
        file (type openai, or options.native_batch), and again at start against the adapters."""
        for name, model in self.models.items():
            if model.batch != "native":
                continue
            for i, dep in enumerate(model.deployments):
                provider = self.providers.get(dep.provider)  # None: _deployments_name_known_providers says
                if provider is not None and not _declares_batch_api(provider):
                    raise ValueError(no_batch_api(name, i, dep.provider, provider.type))
        return self

    def provider_api_key(self, name: str) -> str | None:
        """The provider's key from its environment variable (never stored anywhere)."""
        provider = self.providers[name]
        env = provider.api_key_env or DEFAULT_KEY_ENV.get(provider.type)
        return os.environ.get(env) if env else None


def _declares_batch_api(provider: ProviderSettings) -> bool:
    return provider.type in ("openai", "anthropic") or bool(provider.options.get("native_batch"))


def no_batch_api(model: str, index: int, provider: str, provider_type: str) -> str:
    """Why `models.<model>.batch: native` cannot be (the file's check and the start's share it)."""
    return (f"models.{model}.batch: 'native' needs every deployment's provider to have a batch API, but "
            f"deployments.{index} (provider '{provider}', type {provider_type}) has none Corral can use. "
            "Native batches work with type openai or anthropic, or an OpenAI-compatible server exposing "
            "/v1/files and /v1/batches (set options.native_batch: true on its provider); otherwise remove "
            "batch: native and Corral runs the route's batches itself.")


def default_settings_data() -> dict[str, Any]:
    """What Corral serves with no file: the built-in local chat and embedding models, offline."""
    return {
        "providers": {"local": {"type": "local"}, "local-embed": {"type": "local-embed"}},
        "models": {
            LOCAL_MODEL_NAME: {
                "deployments": [{"provider": "local", "model": LOCAL_MODEL_NAME}],
                "aliases": ["local"],
                "description": "Built-in SmolLM2-135M-Instruct, runs offline on the CPU",
            },
            LOCAL_EMBED_MODEL_NAME: {
                "deployments": [{"provider": "local-embed", "model": LOCAL_EMBED_MODEL_NAME}],
                "aliases": ["local-embed"],
                "description": "Built-in all-MiniLM-L6-v2 embeddings (384-d), run offline on the CPU",
            },
        },
        # In-process: nothing is billed, so its records are priced at 0 rather than unpriced.
        "pricing": {"deployments": {"local-embed": {"input_per_mtok": 0, "output_per_mtok": 0}}},
    }


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"Invalid configuration in {source}:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against docs/configuration.md)"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from `path`, `$CORRAL_CONFIG`, or ./corral.yaml, then apply env vars."""
    explicit = path or os.environ.get("CORRAL_CONFIG")
    file = Path(explicit) if explicit else Path("corral.yaml")
    if explicit and not file.exists():
        raise ConfigError(f"Configuration file {file} does not exist.")
    data: dict[str, Any]
    source = "(defaults)"
    if file.exists():
        source = str(file)
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of settings.")
        if found := literal_secrets(loaded):
            raise ConfigError("\n".join([f"Invalid configuration in {source}:",
                                         *(f"  {path}: {reason}" for path, reason in found)]))
        data = loaded
        if not data.get("providers") and not data.get("models"):
            data = {**default_settings_data(), **data}
    else:
        data = default_settings_data()
    data = _apply_env(dict(data))
    data["source"] = source
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def _apply_env(data: dict[str, Any]) -> dict[str, Any]:
    env = os.environ
    if env.get("CORRAL_HOME"):
        data["home"] = env["CORRAL_HOME"]
    if env.get("CORRAL_DATABASE_URL"):
        data["database_url"] = env["CORRAL_DATABASE_URL"]
    if env.get("CORRAL_REDIS_URL"):
        data["redis_url"] = env["CORRAL_REDIS_URL"]
    server = dict(data.get("server") or {})
    if env.get("CORRAL_HOST"):
        server["host"] = env["CORRAL_HOST"]
    if env.get("CORRAL_PORT"):
        server["port"] = env["CORRAL_PORT"]
    data["server"] = server
    return data
