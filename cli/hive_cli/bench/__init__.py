"""Benchmarks run by ``hive bench NAME``.

Each module here defines ``describe() -> str``, ``add_arguments(parser)`` and
``run(args) -> BenchResult``; :mod:`hive_cli.commands.bench` prints the table, writes the JSON
file under ``bench/results/`` and, with ``--json``, prints the JSON object as the last line.
"""
