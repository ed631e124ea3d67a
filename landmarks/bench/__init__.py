"""Benchmarks: measured side by side with their baseline in one run (`landmarks bench`)."""
