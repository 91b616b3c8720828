"""Benchmarks: ``make bench`` runs each ``bench/bench_*.py`` module and writes ``bench/results/<name>.json``."""
