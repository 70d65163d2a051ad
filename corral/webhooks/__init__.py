"""Webhooks for asynchronous work (docs/webhooks.md): a client of a background response or a
batch learns it finished without polling. Events and signatures are OpenAI's (Standard Webhooks);
delivery goes through the durable job queue, at least once.

Nothing is imported here: `corral.config` reads `corral.webhooks.settings`, and reading a
configuration must not load the queue or an HTTP client.
"""
