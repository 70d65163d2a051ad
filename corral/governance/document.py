"""The governance document: what Corral does with data, generated from the live configuration.

Written for a compliance reader who has never seen the code: plain sentences and tables. It
names the configuration it describes by the same SHA-256 the audit log's ``config.load`` entry
records (corral.governance.audit.config_fingerprint), so a reader can match the two. First cut
of issue 13, item 9: Markdown only; sections on who may act (roles, the compliance preset) are
in corral.governance.document_access.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from corral.config import ModelSettings, ProviderSettings, Settings
from corral.core.text_table import markdown_table as _table
from corral.governance.audit import config_fingerprint
from corral.governance.datamap import DATA_MAP, DataStore
from corral.governance.document_access import profile_section, roles_section
from corral.governance.document_figures import figures_section
from corral.governance.document_people import DocumentFacts, incidents_section, prompts_section
from corral.governance.erasure import NOT_ERASED
from corral.limits.settings import METRICS, LimitRule, Metric
from corral.privacy.policy import privacy_settings_from

__all__ = ["SECTIONS", "governance_document"]

IN_PROCESS = frozenset({"local", "local-embed"})
INTRANET_SUFFIXES = (".internal", ".local", ".lan", ".corp", ".intranet", ".svc", ".localhost")
DAY_S = 86_400
POLICY_MEANING = {
    "off": "personal data is not looked for; prompts go to the provider as written",
    "log-only": "the provider sees the prompt as written; anything Corral stores uses a copy "
                "with personal data replaced by placeholders",
    "redact": "personal data is replaced by placeholders before the provider sees it; the "
              "answer gets the original values back",
    "block": "a request containing personal data is refused and never reaches the provider",
}
RETENTION_MEANING = {
    "request_records_days": "request records: time, key, end user id, tokens, cost, status",
    "captured_content_days": "prompts and answers kept inside request records (the rest of the "
                             "record stays)",
    "policy_events_days": "provider refusals, with an excerpt of the prompt",
    "feedback_days": "ratings, comments and corrections people gave on answers",
    "quality_scores_days": "automatic quality scores of sampled answers (numbers only)",
    "closed_incidents_days": "reviewed incidents and their notes, counted from when they were closed "
                             "(open incidents are kept)",
    "audit_log_days": "the audit log of administrative actions",
}
SECTIONS = ("About this document", "Models and providers in use", "Personal data handling per route",
            "Retention", "Where data is kept", "Rights and erasure", "Audit arrangements",
            "Roles and access", "System prompts", "Incident review and escalation", "Compliance preset",
            "Limits and budgets", "Webhook receivers", "Measured figures")


def _plain(text: str) -> str:
    """Code-derived text in a table cell: angle brackets shown, not read as HTML."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _days(days: int | float | None) -> str:
    if days is None:
        return "kept until erased or deleted"
    return "1 day" if days == 1 else f"{days:g} days"


def _seconds(seconds: float) -> str:
    if seconds >= DAY_S and seconds % DAY_S == 0:
        return _days(seconds / DAY_S)
    if seconds >= 3600:
        return "1 hour" if seconds == 3600 else f"{seconds / 3600:g} hours"
    return f"{seconds:g} seconds"


def _on_own_network(base_url: str | None) -> bool:
    """A server on a private or loopback address, or with an intranet-only name: self-hosted.

    A public name may be self-hosted too; the document then says "over the internet" and lets
    the reader judge, rather than calling a third party self-hosted."""
    host = urlsplit(base_url or "").hostname
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith(INTRANET_SUFFIXES)
    return address.is_private or address.is_loopback or address.is_link_local


def _destination(provider: ProviderSettings) -> str:
    if provider.type in IN_PROCESS:
        return "runs inside Corral's own process; data does not leave the server"
    if _on_own_network(provider.base_url):
        return f"a server on the organisation's own network (self-hosted): {provider.base_url}"
    where = provider.base_url or f"{provider.type}'s public API"
    return f"third party reached over the internet: {where}"


def _header(settings: Settings, generated_at: datetime) -> str:
    fingerprint = config_fingerprint(settings.model_dump_json(), settings.source)
    return "\n".join([
        "# Corral governance document",
        "",
        "## About this document",
        "",
        "This document describes what the Corral gateway does with the data that passes through "
        "it: which AI models receive it, how personal data is treated, how long data is kept, where "
        "it is kept, how a person's data is erased, and how administrative actions are recorded. "
        "It is generated by `corral governance doc` from the configuration that is running, so it "
        "describes that configuration and nothing else.",
        "",
        _table(["", ""], [
            ["Generated at (UTC)", generated_at.strftime("%Y-%m-%d %H:%M:%S")],
            ["Configuration source", f"`{fingerprint['source']}`"],
            ["Configuration SHA-256", f"`{fingerprint['sha256']}`"],
        ]),
        "",
        "The SHA-256 is a fingerprint of the whole configuration: any change to it gives a "
        "different value. The audit log records the same fingerprint each time Corral starts "
        "(`config.load`), so the two can be compared to confirm which configuration was in use.",
    ])


def _models(settings: Settings) -> str:
    rows: list[list[str]] = []
    for name, model in settings.models.items():
        for dep in model.deployments:
            provider = settings.providers[dep.provider]
            rows.append([f"`{name}`", dep.provider, provider.type, f"`{dep.model}`", _destination(provider),
                         ", ".join(f"`{f}`" for f in model.fallbacks) or "none"])
    parts = [
        "## Models and providers in use",
        "",
        "A *route* is the model name applications ask for. Each route is served by one or more "
        "*deployments*: a provider (the service that runs the model) and the model's name there. "
        "*Fallbacks* are other routes tried, in order, when all of a route's deployments fail; a "
        "request may then reach their providers too.",
        "",
        _table(["Route", "Provider", "Provider type", "Upstream model", "Where the data goes", "Fallbacks"],
               rows) if rows else "No routes are configured.",
    ]
    external = [n for n, p in settings.providers.items()
                if p.type not in IN_PROCESS and not _on_own_network(p.base_url)]
    parts += ["", "Providers reached over the internet, which receive prompts and are governed by "
              "their own terms and data policies: " + (", ".join(external) if external else
                                                      "none; every model runs inside the organisation.")]
    return "\n".join(parts)


def _cache(model: ModelSettings) -> str:
    if model.cache is None or not (model.cache.exact or model.cache.semantic):
        return "off"
    kinds = [k for k, on in (("exact", model.cache.exact), ("semantic", model.cache.semantic)) if on]
    return f"{' and '.join(kinds)}, answers kept {_seconds(model.cache.ttl_s)}"


def _privacy(settings: Settings) -> str:
    privacy = privacy_settings_from(settings)
    capture = settings.observability.capture_content
    rows = []
    for name, model in settings.models.items():
        rule, source = privacy.route_rule(name)
        stored = "yes, the redacted copy" if capture and rule.policy != "off" else "no"
        rows.append([f"`{name}`", f"`{rule.policy}`", "this route" if source == "route" else "the default",
                     stored, _cache(model)])
    meanings = [[f"`{p}`", text] for p, text in POLICY_MEANING.items()]
    return "\n".join([
        "## Personal data handling per route",
        "",
        "Corral can look for personal data (names, email addresses, phone numbers and similar) in "
        "prompts and apply a *privacy policy*. A route uses its own policy when the configuration "
        f"gives one, otherwise the default policy, which is `{privacy.default.policy}`. A rule for a "
        "particular API key or team may only make a route's policy stricter, unless an "
        "administrator explicitly allows otherwise.",
        "",
        _table(["Policy", "Meaning"], meanings),
        "",
        f"Detection reads {_languages(privacy.languages)}. Text in a language not listed is still "
        "scanned, but names and addresses in it are found less reliably.",
        "",
        f"Content capture (`observability.capture_content`) is **{'on' if capture else 'off'}**. "
        "Prompts and answers are stored in request records only when capture is on *and* the "
        "route's privacy policy is not `off`, and then only as the copy with personal data "
        "replaced, never as written.",
        "",
        "Caching lets Corral answer a repeated question with a stored answer: *exact* for an "
        "identical request, *semantic* for one with the same meaning. A cached answer is only ever "
        "served to the same team and the same end user: caches never cross teams.",
        "",
        _table(["Route", "Privacy policy", "Policy from", "Prompts/answers stored", "Cache"], rows)
        if rows else "No routes are configured.",
        *([f"\n{len(privacy.keys)} key- or team-specific privacy rule(s) are also configured."]
          if privacy.keys else []),
    ])


_LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                   "nl": "Dutch", "pl": "Polish"}


def _languages(codes: list[str]) -> str:
    names = [_LANGUAGE_NAMES.get(code, code) for code in codes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _retention(settings: Settings) -> str:
    limits = settings.governance.retention
    rows = [[RETENTION_MEANING[f], f"`governance.retention.{f}`",
             "always kept" if f == "audit_log_days" else _days(getattr(limits, f))]
            for f in RETENTION_MEANING]
    files = settings.files
    rows += [
        ["stored responses (answers kept for follow-up requests)", "`responses.retention_s`",
         _seconds(settings.responses.retention_s)],
        *[[f"uploaded files, purpose `{purpose}`", "`files.default_expiry_s`", _seconds(s)]
          for purpose, s in files.default_expiry_s.items()],
        ["uploaded files, other purposes", "`files.default_expiry_s`", "kept until deleted"],
        ["unfinished (abandoned) uploads", "`files.abandoned_upload_s`", _seconds(files.abandoned_upload_s)],
        ["background jobs and batch items, once finished", "`jobs.retention_s`",
         _seconds(settings.jobs.retention_s)],
    ]
    return "\n".join([
        "## Retention",
        "",
        "How long each kind of data is kept. An hourly purge deletes data past its limit; a limit "
        "shown as \"kept until erased or deleted\" has no age limit. The audit log is always kept, "
        "because deleting its oldest entries would break its tamper check; it can be archived with "
        "`corral audit export`. The cache keeps answers for the time shown per route above.",
        "",
        _table(["Data", "Setting", "Kept for"], rows),
    ])


_ROLE_WORDS = {"user": "end user id", "key": "API key id", "request": "request id", "team": "team"}


def _find(store: DataStore) -> str:
    found = [f"by {_ROLE_WORDS[role]} (`{column}`)" for role, column in store.columns().items()]
    found += [f"through `{path}`" for path in store.via]
    if store.keyed_by:
        found.append(f"entries: {_plain(store.keyed_by)}")
    return "; ".join(found) or "not searchable by person"


def _datamap() -> str:
    rows = [[f"`{s.name}`", s.kind, ", ".join(s.classes), _plain(s.holds), _find(s)] for s in DATA_MAP]
    return "\n".join([
        "## Where data is kept",
        "",
        "Every place Corral keeps data derived from requests. *Kind*: `table` is a database table, "
        "`file` a file on the server's disk, `kv` the shared key-value store (Redis) and `memory` "
        "a running process's memory. *Classes*: `content` is what people wrote or received; "
        "`identity` says who (key, team, end user); `credentials` authenticate callers; `audit` is "
        "the record of admin actions; `telemetry` measures requests; `operational` is internal state.",
        "",
        _table(["Store", "Kind", "Classes", "What it holds", "How a person's data is found"], rows),
    ])


def _erasure() -> str:
    rows = [[f"`{name}`", _plain(why)] for name, why in NOT_ERASED.items()]
    return "\n".join([
        "## Rights and erasure",
        "",
        "An administrator erases one person's data with `corral erase --user ID` (or `--key ID` for "
        "everything sent with one API key, `--request ID` for one request), or through the "
        "`POST /admin/erasure` endpoint. Erasure follows the data map above: it deletes, or where "
        "a row must stay, anonymises every matching entry in every store, including the disk "
        "spool (records waiting for the database) and the cache where it can be searched. It "
        "returns a receipt with counts per store, the time and who asked, and the receipt is kept "
        "in the audit log. Running it twice is safe. The audit log itself is exempt: it holds no "
        "personal data (an erased user appears only as a fingerprint).",
        "",
        "Not erased yet, and what happens to that data instead:",
        "",
        _table(["Store", "Why, and what to do"], rows),
    ])


def _audit() -> str:
    return "\n".join([
        "## Audit arrangements",
        "",
        "Administrative actions are written to an append-only audit log in Corral's database: "
        "configuration loads (with the configuration fingerprint above), API keys created and "
        "revoked, erasures (with their receipts), retention purges, system-prompt versions, label "
        "moves, proposals, approvals and rejections, incidents opened and changed, input rules "
        "created and retired, and audit exports, each with who acted, when, and the state before "
        "and after. Raw keys and prompt texts are never written to it (a prompt version appears "
        "by its fingerprint).",
        "",
        "Each entry carries a hash of its own contents and of the entry before it (a *hash "
        "chain*), so editing or deleting an entry afterwards breaks the chain. `corral audit "
        "verify` checks the whole chain and names the first broken entry; `corral audit export` "
        "writes the log out for archiving on write-once storage, and is itself logged.",
    ])


def _limit_cells(scope: str, rule: LimitRule) -> list[str]:
    def level(metric: Metric) -> str:
        hard, soft = rule.hard(metric), rule.soft(metric)
        parts = [f"hard {hard:g}" if hard is not None else "",
                 f"alert at {soft:g}" if soft is not None else ""]
        return ", ".join(p for p in parts if p) or "-"

    return [scope, *(level(m) for m in METRICS)]


def _limits(settings: Settings) -> str:
    limits = settings.limits
    rows = [_limit_cells(f"key `{k}`", r) for k, r in limits.keys.items()]
    rows += [_limit_cells(f"team `{t}`", r) for t, r in limits.teams.items()]
    rows += [_limit_cells(f"route `{n}`", r) for n, r in limits.routes.items()]
    rows += [_limit_cells(label, r) for label, r in (("every key", limits.every_key),
                                                     ("every team", limits.every_team)) if r is not None]
    head = ["## Limits and budgets", ""]
    if not limits.configured():
        return "\n".join([*head, "No rate limits or spending budgets are configured."])
    return "\n".join([
        *head,
        "Rate limits and spending budgets. *rpm*: requests per minute; *tpm*: tokens (words and "
        "parts of words) per minute; *usd_per_day/month*: spend in US dollars. Above a hard level "
        "requests are refused; at an alert level operators are warned.",
        "",
        _table(["Applies to", *METRICS], rows),
        "",
        "When the shared counters cannot be reached, requests are "
        + ("served without limits (and this is logged)." if limits.on_counter_outage == "open"
           else "refused until they are reachable again."),
    ])


def _webhooks(settings: Settings) -> str:
    endpoints = settings.webhooks.endpoints
    head = ["## Webhook receivers", ""]
    if not endpoints:
        return "\n".join([*head, "No webhook receivers are configured: Corral sends no event to any other "
                                  "system when work finishes."])
    rows = [[f"`{name}`", _plain(_receiver(e.url)),
             "every team" if e.teams == "*" else ", ".join(f"`{t}`" for t in e.teams or ()),
             ", ".join(f"`{event}`" for event in e.events)] for name, e in endpoints.items()]
    return "\n".join([
        *head,
        "When a background response or a batch finishes, Corral tells these receivers. An event "
        "names what finished and its id (for example `response.completed`, `resp_...`), never a "
        "prompt, an answer or a file: the receiver fetches the result with its own API key, as "
        "any client would, so the team's access rules apply. Each event is signed with a secret "
        "only Corral and the receiver hold, and a team's events go only to receivers listed for it.",
        "",
        _table(["Receiver", "Address", "Events of", "Events"], rows),
    ])


def _receiver(url: str) -> str:
    if _on_own_network(url):
        return f"the organisation's own network: {url}"
    return f"over the internet: {url}"


def governance_document(settings: Settings, now: Callable[[], datetime] | None = None,
                        facts: DocumentFacts | None = None) -> str:
    """The governance document (Markdown) for `settings`; `now` fixes the time in tests;
    `facts` are what the deployment's database says (`gather_facts`), when it is at hand."""
    generated_at = (now or (lambda: datetime.now(UTC)))()
    parts = [_header(settings, generated_at), _models(settings), _privacy(settings), _retention(settings),
             _datamap(), _erasure(), _audit(), roles_section(), prompts_section(settings, facts),
             incidents_section(settings, facts), profile_section(settings), _limits(settings),
             _webhooks(settings), figures_section(facts.figures if facts is not None else None)]
    return "\n\n".join(parts) + "\n"
