"""The ``hive`` command line: one entry point whose subcommands live in :mod:`hive_cli.commands`.

It is its own package so that neither the runtime nor the operator has to import the other to
offer a command; only this thin layer knows about both.
"""
