"""Benchmarks of resetbot against a bare Bolt app: ``python -m tests.benchmarks [--quick]``."""
