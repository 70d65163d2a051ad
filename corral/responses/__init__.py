"""The OpenAI Responses API on Corral's one lifecycle (docs/responses.md).

A create request is translated into a canonical `ChatRequest`, run through
`gateway.handle` like every other request (privacy, routing with failover, context
fitting, records, cost), and the answer is translated back into a Response object or the
Responses event stream. One module a job:

- `params`: the create body's top-level fields -> the Response object's echo fields.
- `items`: input items -> their stored shape, and stored items -> canonical messages.
- `canonical`: a Response's fields plus its conversation -> the `ChatRequest` to run.
- `output`: a canonical answer -> output items, status and usage.
- `file_search`: the `file_search` tool's shape; `grounding`: its search and the sources put
  into the prompt (the prompt itself and the `[n]` citation reader, shared with grounded chat
  completions, are corral.knowledge.grounding and corral.knowledge.citations).
- `events`: a canonical stream -> the Responses server-sent events.
- `store`: stored responses (`store: true`), owned by a team.
- `service`: the flow the HTTP edge and the background worker share.
- `background`: `background: true` on the job queue (corral.jobs).
"""
