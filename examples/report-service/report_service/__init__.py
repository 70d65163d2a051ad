"""The report-generation service of the case study: a small web service in front of Corral.

Modules: :mod:`.store` (jobs in SQLite), :mod:`.knowledge` (the ``report-knowledge`` vector
store), :mod:`.runner` (the bounded queue that turns jobs into background responses),
:mod:`.app` (the HTTP API). ``service.py`` next to this package is the command line.
"""
