"""Batch lines forwarded to a provider's own batch API (routes with `batch: native`).

Every line stays an ordinary request through `Gateway.handle`; only its upstream call is
deferred (`corral.core.deferred`). Three kinds of queue job, none holding a worker while
the provider works (docs/batches.md, "Native batches"):

1. `batch_native` (one per chunk of up to `batches.native_chunk_lines` lines of a route):
   runs each line through the lifecycle with a collecting call (`sinks.Collector`), so the
   privacy stage redacts it and the adapter translates it; lines the lifecycle answers
   before any upstream call (a privacy block, a bad parameter) get their item at once.
   The rest are written as the provider's JSONL, uploaded and submitted as one provider
   batch per deployment, tagged in its metadata so a re-run finds it instead of
   submitting again. The job's result keeps, per line, a digest of what was sent.
2. `batch_native_poll`: looks at the provider's batches every
   `batches.native_poll_interval_s` (a job per look, like `batch_check`), cancels them
   when Corral's batch is cancelled or its window ended, and once all are final
   downloads the output and error files and queues each line's item with its answer.
3. `batch_item` (the runner's own): runs the line through the lifecycle again with the
   provider's answer (`sinks.Answer`); the adapter parses it, the privacy stage restores
   it, the lifecycle records and prices it (at the batch price), and the item's result
   goes to the output or error file like any other line's.
"""
