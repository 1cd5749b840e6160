"""Commands that chain the stages end to end: the pipeline shared by ``scan`` and ``gate``, ``scan``, the CI gate."""
