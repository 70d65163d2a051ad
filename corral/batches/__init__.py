"""OpenAI's Batch API, run by Corral itself against any route (docs/batches.md).

- `corral.batches.runner.BatchRunner`: plans a batch into one queue job per line, serves
  each through the lifecycle, and writes the output and error files when all are done.
- `corral.batches.store.BatchStore`: the `batches` table.
- `corral.batches.native`: lines of routes with `batch: native`, forwarded to the
  provider's own batch API (still one request each through the lifecycle).

Nothing is re-exported: the configuration imports `corral.batches.settings`, and reading a
configuration must not load the store.
"""
