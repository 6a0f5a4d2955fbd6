"""The built-in LLM judge: any OpenAI-compatible chat-completions endpoint.

Split by concern so each part is tested alone: ``config`` (the per-batch judge spec and
the worker's settings), ``prompt`` (what the model is shown), ``http`` (one call with
timeouts and bounded retries), ``verdict`` (structured output to a winner, or a failure),
``limits`` (rate and concurrency limits shared through Redis), ``cost`` (tokens, prices,
dry-run estimates) and ``judge`` (one comparison end to end, no Celery).

This ``__init__`` imports nothing: :mod:`cj_worker.payloads` imports ``config`` and the
other modules import ``payloads``, so an eager import here would be a cycle.
"""
