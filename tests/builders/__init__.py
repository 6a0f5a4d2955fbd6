"""Every builder the tests share, in one place: valid values by default, overridable where a
test cares. ``core`` (histories, settings, continuation contexts), ``db`` (rows),
``tasks`` (seeded batches for task bodies), ``results`` (results in memory for renderers),
``decision_files`` (synthetic judgement files for ``score``)."""
