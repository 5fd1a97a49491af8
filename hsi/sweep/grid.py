"""The sweep's axes from the command line: seeds (``0-9``, ``0,3,7``), training sizes and models."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hsi.errors import ConfigError

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")

# A sweep trains one run per seed: far more than this is a typo (0-100000000000), not a plan,
# and building the list alone would exhaust the memory.
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,7"``, ``"0-4,10"`` → seeds in the order given, each once."""
    from hsi.seeding import check_seed

    ranges: list[tuple[int, int]] = []
    for part in str(text).split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ConfigError(
                f"seeds: expected non-negative seeds like 0-9, 0,3,7 or 0-4,10, got {text!r}",
                params=("seeds",),
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigError(
                f"seeds: range {part.strip()!r} runs backwards; write {last}-{first}",
                params=("seeds",),
            )
        check_seed(last, "seeds")
        ranges.append((first, last))
    seeds: dict[int, None] = {}  # ordered and distinct
    written = 0
    for first, last in ranges:
        if last - first >= MAX_SEEDS:  # refused unexpanded: 0-100000000000 would fill the memory
            raise _too_many_seeds(text)
        written += last - first + 1
        if written > _MAX_WRITTEN:  # a thousand repeats of 0-9999 took seconds to add nothing
            raise ConfigError(
                f"seeds {_abridged(text)}: more than {_MAX_WRITTEN:,} values written out, "
                "repeats included; write each once",
                params=("seeds",),
            )
        seeds.update(dict.fromkeys(range(first, last + 1)))
        if len(seeds) > MAX_SEEDS:
            raise _too_many_seeds(text)
    return list(seeds)


def _too_many_seeds(text: object) -> ConfigError:
    return ConfigError(
        f"seeds {_abridged(text)}: more than {MAX_SEEDS:,} distinct values, the most a sweep takes",
        params=("seeds",),
    )


#: seeds a list may write out, repeats included (``0-9,0-9`` is fine, megabytes of it are not)
_MAX_WRITTEN = 10 * MAX_SEEDS


def _abridged(text: object, most: int = 60) -> str:
    text = str(text)
    return text if len(text) <= most else f"{text[: most - 1]}…"


def parse_train_sizes(text: str | float | int | Sequence[float | int]) -> list[float | int]:
    """``"0.05,0.1,0.3"`` → ``[0.05, 0.1, 0.3]``; each element as ``--train-size`` reads it."""
    from hsi.splits import parse_size

    if isinstance(text, (int, float)):
        return [text]
    parts = text.split(",") if isinstance(text, str) else list(text)
    sizes: list[float | int] = []
    for part in parts:
        if isinstance(part, (int, float)):
            sizes.append(part)
            continue
        if not part.strip():
            raise ConfigError(f"train_size: empty element in {text!r}", params=("train_size",))
        sizes.append(parse_size(part.strip(), "train_size"))
    return list(dict.fromkeys(sizes))


def size_label(size: float | int) -> str:
    """Folder-safe text for a training size: 0.1 → ``0.1``, 50 → ``50``."""
    return str(size) if isinstance(size, int) else f"{size:g}"


def parse_models(text: str | Sequence[str]) -> list[str]:
    """``"hybridsn,mobilenet_v2,svm"`` → those names, each once, each a known model."""
    from hsi.models import list_models

    parts = text.split(",") if isinstance(text, str) else list(text)
    models = [part.strip() for part in parts]
    if not models or any(not m for m in models):
        raise ConfigError(
            f"models: expected model names separated by commas, got {text!r}", params=("models",)
        )
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise ConfigError(
            f"models: unknown model {unknown[0]!r}; choose from: {', '.join(list_models())}",
            params=("models",),
        )
    return list(dict.fromkeys(models))
