"""Stage 2, models: the zoo of named models, models given by path or hub id, GGUF files, the cache, and the backends.

Every backend implements one interface, ``leakaudit.models.backends.base.LM``; nothing here
knows about prompts, answers or audits.
"""
