"""Sottovoce benchmarks: a load generator, a bare relay baseline, and the `make bench` runner."""
