"""Subcommands of ``hive``: each module defines ``register(subparsers)`` and sets ``handler``."""
