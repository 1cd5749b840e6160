"""The package version, in one importable place (files leakaudit writes record it; ``--version`` prints it)."""
__version__ = "0.1.0"
