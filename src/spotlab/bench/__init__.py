"""Benchmarks: the engine benchmark (``spotlab bench engine``) and its parts.

- ``workload``: the seeded, deterministic command mix;
- ``bare_book``: a bare price-time book, the fair reference for the engine;
- ``engine``: the runner that measures the bare book and the exchange in memory,
  SQLite-durable and PostgreSQL-durable, restart time and memory;
- ``report``: the targets, the verdict on each, and the printed tables.

Figures and the command that reproduces them are in BENCHMARKS.md.
"""
