"""Persistence: the only place that knows about SQL.

Tasks turn rows into the pure core's types here and back; nothing under ``cj_worker.db``
imports Celery tasks or the CLI, so the schema and its queries can be tested on their own.
Import the submodules directly (``cj_worker.db.models``, ``cj_worker.db.repositories``).
"""
