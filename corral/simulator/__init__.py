"""A provider simulator with fault injection, for tests, demos and benchmarks only.

It is never a model and is never used in place of one.
"""
