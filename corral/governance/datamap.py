"""The data map: every place Corral keeps data derived from requests or supplied by users.

Retention (per data class) and erasure (per end user, key or request) work from this list, and
the governance document prints it, so it has to be complete: tests/governance/test_datamap.py
fails when a table in the metadata has no entry here (or in ``UNMAPPED_TABLES``, with a reason),
and when an entry names a table or column that does not exist.

How to find someone's entries: a table entry names its columns (``user_column`` for the end
user, the request's ``user`` field; ``key_column`` for the API key id; ``request_column`` for
Corral's ``req_...`` id; ``team_column``). Where a table has no such column, ``via`` says which
column leads to a row that has one (``"store_id -> vector_stores.id"``) and ``note`` says why.
Entries of the other kinds (files, the KV, process memory) say where they live
(``location``) and how entries are keyed (``keyed_by``).

Ids that name the same request: a request ``req_X`` answers a chat completion ``chatcmpl-X``
and a stored response ``resp_X`` (corral.observe.quality.feedback, corral.responses.ids).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from corral.core.text_table import text_table

DataClass = Literal["content", "credentials", "identity", "audit", "telemetry", "operational"]
"""``content``: prompts, answers, documents, free text people wrote (and embeddings of it);
``credentials``: what authenticates a caller (key hashes); ``identity``: who (key ids, key and
team names, end user ids); ``audit``: the record of admin actions; ``telemetry``: measurements
of requests (tokens, latency, cost, scores); ``operational``: queue, index and counter state."""
DATA_CLASSES: tuple[DataClass, ...] = get_args(DataClass)
Kind = Literal["table", "file", "kv", "memory"]
KINDS: tuple[Kind, ...] = get_args(Kind)

DATABASE = "the database (corral.db under home, or database_url)"
PROCESS = "memory of each gateway/worker process"


@dataclass(frozen=True, slots=True)
class DataStore:
    """One place data is kept. ``data_class`` is the most sensitive class it holds (the one its
    retention follows); ``also`` lists the other classes in it."""

    name: str
    kind: Kind
    data_class: DataClass
    holds: str
    user_column: str | None = None
    key_column: str | None = None
    request_column: str | None = None
    team_column: str | None = None
    via: tuple[str, ...] = ()  # "column -> table.column": where an owner is found instead
    location: str = DATABASE
    keyed_by: str | None = None  # non-table stores: what an entry's key is made of
    note: str | None = None
    also: tuple[DataClass, ...] = ()
    dialect: str | None = None  # a table one backend alone has, made by a migration (not in metadata)
    companions: tuple[str, ...] = ()  # tables the database keeps for this one (FTS5's shadow tables)

    @property
    def classes(self) -> tuple[DataClass, ...]:
        return (self.data_class, *self.also)

    def columns(self) -> dict[str, str]:
        """The lookup columns it names: {"user": "end_user", ...}."""
        named = {"user": self.user_column, "key": self.key_column, "request": self.request_column,
                 "team": self.team_column}
        return {role: column for role, column in named.items() if column is not None}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["via"], data["also"], data["companions"] = list(self.via), list(self.also), list(self.companions)
        return data


# Tables with no entry, and why (the test accepts these and nothing else).
UNMAPPED_TABLES: dict[str, str] = {
    "schema_migrations": "the migrations' own bookkeeping: version numbers, names and times only",
}

_VS = "store_id -> vector_stores.id"
_REQ = "request_id -> requests.request_id"

DATA_MAP: tuple[DataStore, ...] = (
    # --- request records and what hangs off them --------------------------------------------
    DataStore(
        "requests", "table", "content", "one record per request: route, model, tokens, latency, "
        "cost, status; prompt and response only with capture_content, as the privacy stage redacted them",
        user_column="end_user", key_column="key_id", request_column="request_id", team_column="team",
        also=("identity", "telemetry"),
        note="client_request_id holds the id the client sent; extras (JSON) may hold grounding data"),
    DataStore(
        "request_spool", "file", "content", "request records (the requests row, every column) "
        "waiting for the database during an outage, and the journal of records queued and not yet "
        "stored (so a killed process loses none)", location="<home>/spool/<time ns>-<pid>x<hex>.jsonl "
        "and .wal (journal), 0600, plus .lock-<token> files", keyed_by="one JSON object a line, keyed "
        "by column name: match a line's end_user, key_id or request_id", also=("identity", "telemetry"),
        note="a segment is deleted once replayed, a journal once its records are stored (about the "
        "sink's batch window); files of a live process are its own (flock), so erase after the sink "
        "has flushed or rewrite only unlocked files"),
    DataStore(
        "record_queue", "memory", "content", "request records accepted by the record sink and not "
        "yet written (up to 50,000, normally for flush_interval_s)", location=PROCESS + " (RecordSink)",
        keyed_by="a queue, no keys: RecordSink.flush() empties it", also=("identity", "telemetry")),
    DataStore(
        "policy_events", "table", "content", "provider refusals and content-filter answers, with "
        "the last user message (prompt_excerpt, up to 2,000 characters)",
        key_column="key_id", request_column="request_id", team_column="team", via=(_REQ,),
        also=("identity",), note="no end-user column: a user's events are those of their requests"),
    DataStore(
        "feedback", "table", "content", "ratings and scores on answers, with free-text comment and "
        "correction", key_column="key_id", request_column="request_id", team_column="team",
        via=(_REQ,), also=("identity",),
        note="key_id is who gave the feedback, not necessarily who asked; request_id may be NULL "
        "when only response_id (chatcmpl-X, request req_X) was sent; no end-user column"),
    DataStore(
        "golden_examples", "table", "content", "curated question/answer pairs per route, "
        "for quality scoring",
        note="written by operators (corral golden), tied to a route only: no key, user or request; "
        "questions copied from real traffic need review by hand"),
    DataStore(
        "quality_scores", "table", "telemetry", "sampled answer scores (similarity, consistency)",
        request_column="request_id", via=(_REQ,),
        note="no key, team or user column: reach them through the request"),
    DataStore(
        "quality_scorer_memory", "memory", "content", "golden questions and answers with their "
        "vectors, records queued for scoring (prompt and answer), rolling scores per route and model",
        location=PROCESS + " (QualityScorer)", keyed_by="golden example id; queued records unkeyed; "
        "rolling scores by (route, model, kind)", also=("telemetry",)),
    # --- caches -------------------------------------------------------------------------------
    DataStore(
        "exact_cache", "kv", "content", "cached answers (text, tool calls, usage; on exact routes "
        "the answer's origin, and for semantic routes the last user message as origin.prompt)",
        location="Redis, when redis_url is set", keyed_by="<kv prefix, default corral:>cache:exact:"
        "<sha256 hex of the canonical request, scoped by team and end user>; owner tags "
        "cache:owner:<user|key|request>:<blake2b of the id> (sorted sets of keys, same lifetime)",
        note="one-way keys, found by owner through the tags each write files (corral.cache.owners): "
        "erasure deletes a tag's entries; entries expire after their TTL"),
    DataStore(
        "exact_cache_memory", "memory", "content", "the same cached answers when the KV is "
        "in-process (a byte-bounded LRU, 64 MiB by default)", location=PROCESS + " (BoundedMemoryStore)",
        keyed_by="cache:exact:<sha256 hex of the canonical request, scoped by team and end user>, "
        "each with its owner tags",
        note="found by owner like exact_cache, but only in the process erasure runs in (POST "
        "/admin/erasure): other processes' entries expire after the TTL or go at restart"),
    DataStore(
        "semantic_cache_index", "memory", "content", "embeddings (384-d) of last user messages on "
        "routes with cache.semantic, each pointing at an exact cache key",
        location=PROCESS + " (SemanticIndex)", keyed_by="scope (sha256 of the request with its last "
        "message blanked, team, end user, route) -> rows of vector, exact cache key and expiry",
        note="one-way scopes: erasure drops the rows pointing at the owner's exact entries, in the "
        "process it runs in; elsewhere a row whose exact entry is gone is dropped when met; up to "
        "2,000 scopes x 1,000 rows; gone at restart"),
    # --- incidents (corral.incidents) ----------------------------------------------------------
    DataStore(
        "incidents", "table", "identity", "reported answers and grouped content-policy events under "
        "review: category, severity, state, assignee, the request, its key, team and end user, the "
        "reporter's key, triage times and escalation state", user_column="end_user", key_column="key_id",
        request_column="request_id", team_column="team", via=(_REQ,), also=("operational",),
        note="reporter_key_id is the key that reported (not necessarily the request's); a policy-event "
        "incident names its first event's request; erasure deletes the incident with its notes"),
    DataStore(
        "incident_notes", "table", "content", "report texts and reviewers' notes on incidents, stored "
        "under the request's privacy policy (redacted when it is on)", via=("incident_id -> incidents.id",),
        also=("identity",), note="author is a key id or 'system'; deleted with their incident (ON DELETE "
        "CASCADE)"),
    DataStore(
        "input_rules", "table", "operational", "reviewers' literal or regex rules that flag or block "
        "prompts, with hit counts", also=("identity",),
        note="patterns are written by reviewers, possibly from redacted prompts: review by hand; "
        "created_by and retired_by are operator key ids (like audit_log.actor); no end user or request"),
    # --- keys and the audit log ---------------------------------------------------------------
    DataStore(
        "api_keys", "table", "credentials", "API keys: sha256 hash, display prefix, name, team, "
        "scopes, who created it, last use", key_column="id", team_column="team", also=("identity",),
        note="keys belong to teams, not end users; created_by names an operator"),
    DataStore(
        "auth_key_cache", "memory", "credentials", "recently verified keys (their KeyInfo: id, "
        "name, team, scopes)", location=PROCESS + " (KeyService)",
        keyed_by="sha256 hex of the presented key; lives server.auth_cache_ttl_s (1 s), 10,000 at most",
        also=("identity",)),
    DataStore(
        "audit_log", "table", "audit", "admin actions, hash-chained: actor (key id, cli:<user> or "
        "system), action, target, before and after (JSON, never secrets)",
        key_column="actor", also=("identity",),
        note="append-only: rows are never updated or deleted (an erasure would break the chain); "
        "a key's own changes are found by target, actions it took by actor"),
    # --- the system-prompt registry (corral.prompts) --------------------------------------------
    DataStore(
        "prompt_versions", "table", "content", "system prompts staff wrote: each immutable version's "
        "text, sha256, author (key id or cli:<user>) and note", also=("identity",),
        note="configuration authored by operators, not request data: no end user or request; author is "
        "an operator key id. Erasure leaves versions in place (a label may serve them); remove a "
        "person's name pasted into a prompt by adding a new version and moving its labels"),
    DataStore(
        "prompts", "table", "identity", "registry prompts: name, description, owners (key ids, "
        "cli:<user>), protected labels, creator", also=("operational",),
        note="owners are operator identities (key ids) in a JSON list, found by text search, not a column"),
    DataStore(
        "prompt_labels", "table", "operational", "where each prompt label points (production -> 3), "
        "who moved it and who approved", also=("identity",),
        note="moved_by and approved_by are operator key ids or cli:<user>; no end user or request"),
    DataStore(
        "prompt_changes", "table", "operational", "proposed moves of protected labels and their "
        "decisions (the two-person rule): proposer, approver, reason", also=("identity",),
        note="proposed_by and decided_by are operator key ids or cli:<user>; kept as the approval "
        "record beside the audit log; no end user or request"),
    # --- files, stored responses, the job queue and batches -----------------------------------
    DataStore(
        "files", "table", "content", "uploaded and Corral-written files: filename, size, purpose, "
        "owner, expiry (the bytes are in file_chunks)", key_column="key_id", team_column="team",
        via=("id -> batches.output_file_id", "id -> batches.error_file_id"), also=("identity",),
        note="key_id is NULL for batch output/error files Corral writes: their key is batches.key_id "
        "(output_file_id, error_file_id); no end-user link: a batch line's `user` is only in the bytes"),
    DataStore(
        "file_chunks", "table", "content", "file bytes in ~1 MiB rows (batch inputs and outputs "
        "included)", via=("file_id -> files.id",), note="deleted with their file (ON DELETE CASCADE)"),
    DataStore(
        "responses", "table", "content", "stored Responses API objects (store: true): input items "
        "and output as sent and answered", key_column="key_id", team_column="team", also=("identity",),
        note="id resp_X is request req_X (no request column); the end user (user or safety_identifier) "
        "is only inside body JSON, which erasure reads (corral.store.json_field); metadata is free "
        "form and not read; previous_response_id chains a conversation"),
    DataStore(
        "jobs", "table", "content", "the durable queue: background responses, batches and their "
        "items; payload and result may hold request content and model output",
        key_column="key_id", team_column="team", also=("identity", "operational"),
        note="no request column: a response job's id is resp_X (request req_X), a batch's plan job "
        "batch_...; batch items have parent_id = the batch id; purged after jobs.retention_s. Native "
        "batches upload lines to the provider's own files API, which Corral does not delete. "
        "webhook_delivery jobs (corral.webhooks) hold an event (type, ids), the team and the "
        "endpoint's name, and send only the event to the configured receivers: no content"),
    DataStore(
        "batches", "table", "identity", "Batch API objects: submitting key id, name and scopes, "
        "file ids, status times, user metadata (JSON), counts and usage",
        key_column="key_id", team_column="team", also=("content", "telemetry"),
        note="the lines and answers are in files (input_file_id, output_file_id, error_file_id) and "
        "jobs (parent_id = id); no end-user link (its items' request records carry their users)"),
    # --- the knowledge base -------------------------------------------------------------------
    DataStore(
        "vector_stores", "table", "content", "vector stores: name, description and metadata as "
        "users wrote them, embedding settings, expiry", key_column="key_id", team_column="team",
        also=("identity",), note="belongs to a key and team; no end-user link"),
    DataStore(
        "vector_store_files", "table", "content", "files attached to a store: filename (kept after "
        "the file is gone), attributes, ingest status", team_column="team",
        via=(_VS, "file_id -> files.id"),
        note="no key column: the store's creator is vector_stores.key_id, the uploader files.key_id "
        "(the file may be deleted, this row stays)"),
    DataStore(
        "vector_store_file_texts", "table", "content", "each attached file's parsed text, block "
        "by block", via=(_VS, "file_id -> files.id"),
        note="belongs to a vector store: found through its store or file"),
    DataStore(
        "vector_store_file_batches", "table", "operational", "file batches: store, team, status, "
        "count", team_column="team", via=(_VS,)),
    DataStore(
        "kb_chunks", "table", "content", "chunk texts once per store (deduplicated by content "
        "hash) with their embeddings; PostgreSQL's tsv / SQLite's terms column index the text",
        via=(_VS,),
        note="belongs to a vector store, not to a key or file: a text two files share is kept once, "
        "so erase a file's chunks through kb_chunk_refs and keep those another file still refers to"),
    DataStore(
        "kb_chunk_refs", "table", "content", "which file holds which chunk: position, heading "
        "path, the file's attributes", via=(_VS, "seq -> kb_chunks.seq", "file_id -> files.id"),
        note="no key column: reach the owner through the store or files.key_id by file_id"),
    DataStore(
        "kb_index_stores", "table", "operational", "per store: dimension, chunk count, generation, "
        "the side index file's uid and the FTS5 term prefix", via=(_VS,)),
    DataStore(
        "kb_chunks_fts", "table", "content", "SQLite's full-text index of kb_chunks (analysed "
        "terms), kept in step with it by triggers", via=("rowid -> kb_chunks.seq",), dialect="sqlite",
        companions=("kb_chunks_fts_data", "kb_chunks_fts_idx", "kb_chunks_fts_docsize",
                    "kb_chunks_fts_config", "kb_chunks_fts_vocab"),
        note="made by migration 11, not in the metadata; follows kb_chunks rows (external content), "
        "but a delete adds a tombstone: the terms stay in older segments until they merge "
        "(INSERT INTO kb_chunks_fts(kb_chunks_fts) VALUES('optimize') rewrites them)"),
    DataStore(
        "kb_vector_files", "file", "content", "the embedded (SQLite) dense index: one usearch HNSW "
        "graph of a store's embeddings", location="<home>/knowledge/<uid>.usearch (and <uid>.tmp* "
        "during a save)", keyed_by="file per store: kb_index_stores.uid; vectors keyed by kb_chunks.seq",
        note="saved every 2,000 changes and at shutdown: a removed vector stays in the file until "
        "then, so erasure must save the graph or delete the file (it is rebuilt from kb_chunks)"),
    DataStore(
        "kb_vector_graphs", "memory", "content", "the same graphs loaded in each process that "
        "searched or ingested a store", location=PROCESS + " (index_vectors.Graphs)",
        keyed_by="store id -> graph keyed by kb_chunks.seq",
        note="reconciled with kb_chunks when kb_index_stores.generation moves"),
    DataStore(
        "knowledge_memos", "memory", "content", "memoised text analysis: chunk texts -> sentence "
        "terms (4,096 texts) and words of queries and chunks -> stems (65,536 words)",
        location=PROCESS + " (lru_cache: rerank._sentence_terms, lexical._stem)",
        keyed_by="the chunk's whole text; a single word",
        note="cleared only by restart or cache_clear(); not searchable by owner"),
    # --- counters in the KV -------------------------------------------------------------------
    DataStore(
        "rate_limit_meters", "kv", "operational", "rate-limit and budget counters (requests, "
        "tokens, dollars per window or period)", location="the KV: Redis, or in-process",
        keyed_by="lim:<key|key-name|team|route>:<name>:<metric>[:usd:d:<day>|m:<month>]",
        also=("identity",), note="no personal data, but the key names hold key ids, key names and "
        "team names; windows expire within minutes, periods a day after they end"),
    DataStore(
        "breaker_state", "kv", "operational", "circuit-breaker state and call counts per deployment",
        location="the KV: Redis, or in-process", keyed_by="breaker:<deployment>:state|calls|probes:...",
        note="no personal data: deployments only"),
    DataStore(
        "retry_budgets", "kv", "operational", "retry budget counts per route",
        location="the KV: Redis, or in-process", keyed_by="retry-budget:<route>:<field>:<bucket>",
        note="no personal data: routes only"),
    # --- the files under everything -----------------------------------------------------------
    DataStore(
        "database_files", "file", "content", "the SQLite database and its write-ahead log (with "
        "database_url unset)", location="<home>/corral.db, corral.db-wal, corral.db-shm",
        keyed_by="pages of the tables above",
        note="a deleted row's bytes can outlive it in the WAL until a checkpoint, and in free pages "
        "where SQLite lacks SECURE_DELETE; on PostgreSQL, dead tuples until VACUUM"),
)


def tables() -> set[str]:
    """Names of the table entries (dialect-only tables included)."""
    return {s.name for s in DATA_MAP if s.kind == "table"}


def by_class(data_class: DataClass, *, primary: bool = False) -> list[DataStore]:
    """Entries holding `data_class`; with `primary`, only those it governs (their data_class)."""
    if data_class not in DATA_CLASSES:
        raise ValueError(f"unknown data class {data_class!r}; one of {', '.join(DATA_CLASSES)}")
    return [s for s in DATA_MAP if (s.data_class == data_class if primary else data_class in s.classes)]


def _find(store: DataStore) -> str:
    found = [f"{role}={column}" for role, column in store.columns().items()]
    found += [f"via {path}" for path in store.via]
    return "; ".join(found) or "-"


def describe() -> str:
    """The map as readable text: a summary table, then each store's details."""
    rows = [[s.name, s.kind, ",".join(s.classes), _find(s)] for s in DATA_MAP]
    parts = [text_table(["STORE", "KIND", "CLASSES", "FIND BY"], rows), ""]
    for s in DATA_MAP:
        parts.append(f"{s.name} ({s.kind}, {s.data_class}): {s.holds}")
        if s.kind != "table" or s.location != DATABASE:
            parts.append(f"  where: {s.location}")
        if s.keyed_by:
            parts.append(f"  keyed by: {s.keyed_by}")
        if s.dialect:
            companions = f" (with {', '.join(s.companions)})" if s.companions else ""
            parts.append(f"  only on: {s.dialect}{companions}")
        if s.note:
            parts.append(f"  note: {s.note}")
    parts += ["", "Not mapped: " + "; ".join(f"{t} ({why})" for t, why in UNMAPPED_TABLES.items())]
    return "\n".join(parts)
