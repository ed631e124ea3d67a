"""landmarks: landmark deep-learning results, re-run and checked against the papers."""

import logging

__version__ = "0.1.0"

# the library logs; the `landmarks` command (or an application) decides what is shown
logging.getLogger("landmarks").addHandler(logging.NullHandler())
