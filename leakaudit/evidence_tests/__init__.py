"""Evidence beyond hit counts: one module per signal (issue 11).

Each module exposes ``NAME``, ``DESCRIPTION``, ``COLUMNS``, ``NEEDS`` and a plain function
that takes a ``Benchmark`` (and, where needed, a loaded LM) and returns a pandas DataFrame
with one row per question: ``sample_id``, ``sample_hash``, the signal's columns and a
boolean flag column. They are meant to be wrapped as ``leakaudit.signals`` entries.
"""
