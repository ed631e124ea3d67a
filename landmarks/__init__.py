"""landmarks: landmark deep-learning results, re-run and checked against the papers."""

__version__ = "0.1.0"
