"""hsi: hyperspectral image classification, reproducible from the command line.

The public API is re-exported here; see README.md and docs/ for a tour.
"""

from __future__ import annotations

__version__ = "0.1.0"
