"""Stage 3, answers: prompts, the runner and its engines, the answer store, imported predictions, the recorded settings.

Samples (stage 1) and models (stage 2) go in; per-question answers in an SQLite store come out.
"""
