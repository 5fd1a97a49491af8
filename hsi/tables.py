"""Numbers as text: CSV, Markdown tables and ``mean ± std``, each written one way everywhere."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A CSV with ``columns``; ``None`` and absent values are empty cells, extra keys ignored.

    Floats are written with ``repr``, which round-trips exactly: the CSV holds the very numbers
    that were summarised.
    """
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()


def mean_pm_std(
    mean: float | None, std: float | None, *, scale: float = 1.0, digits: int = 4
) -> str:
    """``0.9500 ± 0.0100``; the mean alone when the spread is unknown, ``–`` without a mean."""
    if mean is None:
        return "–"
    text = f"{mean * scale:.{digits}f}"
    return text if std is None else f"{text} ± {std * scale:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table (``|`` in a cell escaped)."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]
