"""YAML -> validated values, with file:line:column messages; the JSON Schema of ward files.

Entry points: :func:`ipfm_scheduler.config.loader.load` and ``load_valid``.
"""
