"""Benchmarks of the project (run as ``python -m benchmarks.<name>``)."""
