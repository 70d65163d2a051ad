"""The table behind ``GET /openapi.json``: every route Corral serves, one line each.

Data only (corral.api.openapi turns it into the document). Kept by hand beside corral.api.app's
ROUTES; tests/api/test_openapi.py fails when the two differ, or when docs/api.md misses a path.
OpenAI-standard operations name the operation and request schema of OpenAI's published OpenAPI
description (github.com/openai/openai-openapi) instead of repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: `permission` values that are not a role permission (docs/roles.md).
PUBLIC = ""  # no key
ANY_KEY = "any key"


@dataclass(frozen=True)
class Op:
    """One method on one path; path parameters come from the ``{name}`` segments."""

    method: str
    path: str
    permission: str  # a permission from corral.auth.roles, ANY_KEY or PUBLIC
    summary: str
    body: str | None = None  # what the JSON body holds, in a line; None: no body
    query: tuple[str, ...] = ()  # query parameter names
    openai: str | None = None  # OpenAI's operationId, for the standard operations
    schema: str | None = None  # OpenAI's request schema name
    form: bool = False  # a multipart/form-data body instead of JSON
    own: bool = True  # Corral's own body format, which refuses unknown fields (else another API's rules)


_PAGE = ("limit", "order", "after", "before")
_VS = "/v1/vector_stores/{vector_store_id}"
_P = "/admin/prompts/{name}"
_PC = "/admin/prompt-changes/{change_id}"

OPENAI = (
    Op("POST", "/v1/chat/completions", "inference", "Create a chat completion, streamed or not",
       "OpenAI's chat request: model, messages, sampling and tool options", openai="createChatCompletion",
       schema="CreateChatCompletionRequest"),
    Op("POST", "/v1/embeddings", "inference", "Create embeddings",
       "OpenAI's embeddings request: model, input, encoding_format, dimensions", openai="createEmbedding",
       schema="CreateEmbeddingRequest"),
    Op("GET", "/v1/models", "inference", "List the public model names and aliases", openai="listModels"),
    Op("GET", "/v1/models/{model}", "inference", "Retrieve one model (the name may hold slashes)",
       openai="retrieveModel"),
    Op("POST", "/v1/feedback", "inference", "Corral extension: rate or report an answer",
       "response_id or request_id; at least one of rating (up|down), score (0..1), comment, correction; "
       "category (harmful|wrong|data_leak) and severity make it a report that opens an incident"),
)

_FWD = "passed through untranslated to an OpenAI-compatible deployment"
PASSTHROUGH = (
    Op("POST", "/v1/completions", "inference", "Create a legacy text completion, streamed or not",
       f"OpenAI's completions request, {_FWD}", openai="createCompletion", schema="CreateCompletionRequest",
       own=False),
    Op("POST", "/v1/moderations", "inference", "Classify text and images for moderation",
       f"OpenAI's moderations request ('model' defaults to omni-moderation-latest), {_FWD}",
       openai="createModeration", schema="CreateModerationRequest", own=False),
    Op("POST", "/v1/images/generations", "inference", "Create images from a prompt",
       f"OpenAI's image request, {_FWD}", openai="createImage", schema="CreateImageRequest", own=False),
    Op("POST", "/v1/images/edits", "inference", "Edit images",
       f"OpenAI's image edit form, {_FWD}", openai="createImageEdit", schema="CreateImageEditRequest",
       form=True, own=False),
    Op("POST", "/v1/images/variations", "inference", "Create variations of an image",
       f"OpenAI's image variation form, {_FWD}", openai="createImageVariation",
       schema="CreateImageVariationRequest", form=True, own=False),
    Op("POST", "/v1/audio/speech", "inference", "Turn text into speech (the answer is audio)",
       f"OpenAI's speech request, {_FWD}", openai="createSpeech", schema="CreateSpeechRequest", own=False),
    Op("POST", "/v1/audio/transcriptions", "inference", "Transcribe audio",
       f"OpenAI's transcription form, {_FWD}", openai="createTranscription",
       schema="CreateTranscriptionRequest", form=True, own=False),
    Op("POST", "/v1/audio/translations", "inference", "Translate audio into English text",
       f"OpenAI's translation form, {_FWD}", openai="createTranslation", schema="CreateTranslationRequest",
       form=True, own=False),
    Op("POST", "/v1/rerank", "inference", "Rerank documents against a query (vLLM, Jina and Cohere's shape)",
       f"model, query, documents, top_n, return_documents; {_FWD}", own=False),
)

ANTHROPIC = (
    Op("POST", "/v1/messages", "inference", "Anthropic Messages API: create a message",
       "Anthropic's Messages request: model, max_tokens, messages, system, tools, stream", own=False),
    Op("POST", "/v1/messages/count_tokens", "inference", "Anthropic Messages API: count tokens",
       "Anthropic's token-count request: model, messages, system, tools", own=False),
)

FILES_AND_JOBS = (
    Op("POST", "/v1/files", "inference", "Upload a file (purposes batch, assistants, user_data)",
       "multipart: file, purpose, expires_after", openai="createFile", schema="CreateFileRequest", form=True),
    Op("GET", "/v1/files", "inference", "List the team's files", query=("limit", "order", "after", "purpose"),
       openai="listFiles"),
    Op("GET", "/v1/files/{file_id}", "inference", "Retrieve a file's metadata", openai="retrieveFile"),
    Op("DELETE", "/v1/files/{file_id}", "inference", "Delete a file", openai="deleteFile"),
    Op("GET", "/v1/files/{file_id}/content", "inference", "Download a file's bytes", openai="downloadFile"),
    Op("POST", "/v1/batches", "inference", "Create a batch from an uploaded JSONL file",
       "input_file_id, endpoint, completion_window, metadata", openai="createBatch",
       schema="CreateBatchRequest"),
    Op("GET", "/v1/batches", "inference", "List the team's batches", query=("limit", "after"),
       openai="listBatches"),
    Op("GET", "/v1/batches/{batch_id}", "inference", "Retrieve a batch", openai="retrieveBatch"),
    Op("POST", "/v1/batches/{batch_id}/cancel", "inference", "Cancel a batch", openai="cancelBatch"),
    Op("POST", "/v1/responses", "inference", "Create a model response (Responses API)",
       "OpenAI's Responses request: model, input, instructions, tools, store, background, stream",
       openai="createResponse", schema="CreateResponse"),
    Op("GET", "/v1/responses/{response_id}", "inference", "Retrieve a stored response", query=("stream",),
       openai="getResponse"),
    Op("DELETE", "/v1/responses/{response_id}", "inference", "Delete a stored response",
       openai="deleteResponse"),
    Op("POST", "/v1/responses/{response_id}/cancel", "inference", "Cancel a background response",
       openai="cancelResponse"),
    Op("GET", "/v1/responses/{response_id}/input_items", "inference", "List a response's input items",
       query=("limit", "order", "after"), openai="listInputItems"),
    Op("POST", "/v1/vector_stores", "inference", "Create a vector store",
       "name, file_ids, metadata, expires_after, chunking_strategy", openai="createVectorStore",
       schema="CreateVectorStoreRequest"),
    Op("GET", "/v1/vector_stores", "inference", "List the team's vector stores", query=_PAGE,
       openai="listVectorStores"),
    Op("GET", _VS, "inference", "Retrieve a vector store", openai="getVectorStore"),
    Op("POST", _VS, "inference", "Modify a vector store", "name, metadata, expires_after",
       openai="modifyVectorStore", schema="UpdateVectorStoreRequest"),
    Op("DELETE", _VS, "inference", "Delete a vector store", openai="deleteVectorStore"),
    Op("POST", _VS + "/search", "inference", "Search a vector store",
       "query, filters, max_num_results, ranking_options, rewrite_query", openai="searchVectorStore",
       schema="VectorStoreSearchRequest"),
    Op("POST", _VS + "/reembed", "inference", "Corral extension: re-embed a store with another route",
       "model: the name of one of the gateway's embeddings routes"),
    Op("POST", _VS + "/files", "inference", "Attach a file to a vector store",
       "file_id, attributes, chunking_strategy", openai="createVectorStoreFile",
       schema="CreateVectorStoreFileRequest"),
    Op("GET", _VS + "/files", "inference", "List a vector store's files", query=(*_PAGE, "filter"),
       openai="listVectorStoreFiles"),
    Op("GET", _VS + "/files/{file_id}", "inference", "Retrieve a vector store file",
       openai="getVectorStoreFile"),
    Op("POST", _VS + "/files/{file_id}", "inference", "Update a vector store file's attributes", "attributes",
       openai="updateVectorStoreFileAttributes", schema="UpdateVectorStoreFileAttributesRequest"),
    Op("DELETE", _VS + "/files/{file_id}", "inference", "Detach a file from a vector store",
       openai="deleteVectorStoreFile"),
    Op("GET", _VS + "/files/{file_id}/content", "inference", "The parsed text of a vector store file",
       openai="retrieveVectorStoreFileContent"),
    Op("POST", _VS + "/file_batches", "inference", "Attach several files at once",
       "file_ids or files, attributes, chunking_strategy", openai="createVectorStoreFileBatch",
       schema="CreateVectorStoreFileBatchRequest"),
    Op("GET", _VS + "/file_batches/{batch_id}", "inference", "Retrieve a file batch",
       openai="getVectorStoreFileBatch"),
    Op("POST", _VS + "/file_batches/{batch_id}/cancel", "inference", "Cancel a file batch",
       openai="cancelVectorStoreFileBatch"),
    Op("GET", _VS + "/file_batches/{batch_id}/files", "inference", "List a file batch's files",
       query=(*_PAGE, "filter"), openai="listFilesInVectorStoreBatch"),
)

ADMIN = (
    Op("GET", "/admin/whoami", ANY_KEY, "The calling key's roles and permissions"),
    Op("GET", "/admin/keys", "keys.manage", "List keys (never the raw keys)", query=("include_revoked",)),
    Op("POST", "/admin/keys", "keys.manage", "Create a key; the raw key is in the answer, once",
       "name, team, roles (or its older name scopes)"),
    Op("DELETE", "/admin/keys/{key_id}", "keys.manage", "Revoke a key by id or prefix"),
    Op("GET", "/admin/audit", "audit.read", "The audit log, newest first",
       query=("since", "action", "limit")),
    Op("POST", "/admin/erasure", "erasure.run", "Erase a user's, key's or request's data; the receipt",
       "exactly one of user, key, request"),
    Op("GET", "/admin/policy-events", "policy.read", "Privacy and content policy events",
       query=("since", "route", "key_id", "limit")),
    Op("POST", "/admin/pii/scan", "config.read", "Scan a text with the PII detectors", "text, show_values"),
    Op("GET", "/admin/feedback", "records.read", "Stored feedback, newest first",
       query=("request_id", "team", "rating", "since", "limit")),
    Op("GET", "/admin/golden", "golden.manage", "List golden examples", query=("route",)),
    Op("POST", "/admin/golden", "golden.manage", "Add a golden example", "route, question, answer"),
    Op("DELETE", "/admin/golden/{golden_id}", "golden.manage", "Delete a golden example"),
    Op("GET", "/admin/incidents", "incidents.read", "The review queue, newest first",
       query=("state", "severity", "category", "since", "limit")),
    Op("GET", "/admin/incidents/stats", "incidents.read", "Incident counts and time to triage",
       query=("since",)),
    Op("GET", "/admin/incidents/{incident_id}", "incidents.read", "An incident with its notes and request"),
    Op("PATCH", "/admin/incidents/{incident_id}", "incidents.manage", "Triage an incident",
       "state, assignee, severity, note"),
    Op("GET", "/admin/input-rules", "incidents.read", "List input rules", query=("include_retired",)),
    Op("POST", "/admin/input-rules", "input_rules.manage", "Add an input rule",
       "pattern, kind, action, route, team, note, from_incident, from_policy_events"),
    Op("POST", "/admin/input-rules/suggest", "input_rules.manage", "Suggest input rules from past events",
       "policy_event_ids, incident_id, limit"),
    Op("DELETE", "/admin/input-rules/{rule_id}", "input_rules.manage", "Retire an input rule"),
    Op("GET", "/admin/prompts", "prompts.read", "List system prompts, with their labels"),
    Op("POST", "/admin/prompts", "prompts.write", "Create a system prompt (the caller becomes an owner)",
       "name, owners, protected_labels, description, text, note"),
    Op("GET", _P, "prompts.read", "A prompt with its versions and changes"),
    Op("POST", _P + "/versions", "prompts.write", "Add a version (owners)", "text, note"),
    Op("GET", _P + "/versions/{version}", "prompts.read", "One version, with its text"),
    Op("POST", _P + "/labels/{label}", "prompts.write", "Move a label (200), or propose the move (202)",
       "version, note"),
    Op("GET", "/admin/prompt-changes", "prompts.read", "Proposed label moves",
       query=("state", "name", "limit")),
    Op("GET", _PC, "prompts.read", "One change, with its unified diff"),
    Op("POST", _PC + "/approve", "prompts.approve", "Approve a change (a different owner)"),
    Op("POST", _PC + "/reject", "prompts.approve", "Reject a change (the proposer: withdraw it)", "reason"),
    Op("GET", "/admin/governance/document", "config.read", "The governance document (md, html or pdf)",
       query=("format",)),
)

OBSERVABILITY = (
    Op("GET", "/dashboard", PUBLIC, "The dashboard page (holds no data; asks for a key)"),
    Op("GET", "/dashboard/{asset}", PUBLIC, "The dashboard's static assets"),
    Op("GET", "/admin/dashboard/summary", "records.read", "Request counts, latency and errors",
       query=("since",)),
    Op("GET", "/admin/dashboard/timeseries", "records.read", "Requests per time bucket",
       query=("since", "bucket")),
    Op("GET", "/admin/dashboard/cost", "records.read", "Spend per day", query=("days",)),
    Op("GET", "/admin/dashboard/cost-plan", "records.read", "The cost plan the records imply",
       query=("since", "route")),
    Op("GET", "/admin/dashboard/budgets", "records.read", "Every configured limit against the records"),
    Op("GET", "/admin/dashboard/batches", "records.read", "Every team's batches with progress and cost",
       query=("status", "team", "limit")),
    Op("GET", "/admin/requests", "records.read", "Search request records",
       query=("route", "status", "team", "since", "q", "limit")),
    Op("GET", "/admin/requests/{request_id}", "records.read", "One request record"),
    Op("GET", "/admin/alerts", "records.read", "Alert rules and their history"),
    Op("GET", "/metrics", "records.read", "Prometheus metrics (no key with observability.metrics_public)"),
    Op("GET", "/healthz", PUBLIC, "Liveness probe"),
    Op("GET", "/readyz", PUBLIC, "Readiness probe: database and key-value store"),
    Op("GET", "/openapi.json", PUBLIC, "This OpenAPI 3.1 description"),
)

#: (tag, operations): the areas of docs/api.md, in its order.
AREAS: tuple[tuple[str, tuple[Op, ...]], ...] = (
    ("OpenAI-compatible", OPENAI),
    ("OpenAI pass-through", PASSTHROUGH),
    ("Anthropic-compatible", ANTHROPIC),
    ("Files, batches, responses and vector stores", FILES_AND_JOBS),
    ("Administration", ADMIN),
    ("Observability and health", OBSERVABILITY),
)
