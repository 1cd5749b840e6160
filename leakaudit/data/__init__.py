"""Stage 1, questions: the one sample schema, benchmarks read from files or the hub, images, the demo, ``inspect``.

Nothing here loads a model; benchmark adapters (``benchmarks_adapters``) build on this stage.
"""
