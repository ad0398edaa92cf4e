"""Benchmarks: quality (bench/quality.py)."""
