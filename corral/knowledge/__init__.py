"""Knowledge bases: documents parsed, chunked, embedded and indexed per store, searched with
hybrid retrieval (corral.knowledge.types draws the parts). Nothing is re-exported here, so
reading a configuration loads no parser, model or index."""
