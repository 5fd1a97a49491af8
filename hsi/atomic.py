"""Write files atomically: to a temporary name in the same folder, then ``os.replace``.

A crash or Ctrl-C never leaves a truncated model, map or report under the final name. Several
outputs of one command go through :func:`atomic_paths` together: every one is written under its
temporary name first and only then are all renamed, so a failure while writing any of them (a
full disk, a bad palette) leaves none of the final names touched. A file-system error while
writing becomes an :class:`~hsi.errors.OutputError` naming the file, and the folders this call
created for the outputs are removed again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from hsi.errors import OutputError


@contextlib.contextmanager
def atomic_paths(
    paths: Sequence[str | Path], *, temp_suffix: str | None = None
) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; on success rename each to its own.

    The temporaries keep the final suffix, so libraries that pick a format by extension
    (matplotlib, numpy, scipy) write the right one. ``temp_suffix`` names them
    ``.<name>.<random><temp_suffix>`` instead, so that leftovers of a killed process can be
    recognised and removed (the downloader's ``.part`` files).
    """
    finals = [Path(p) for p in paths]
    created: list[Path] = []
    tmps: list[Path] = []
    done = False
    try:
        for path in finals:
            created += make_parents(path.parent)
            if temp_suffix is None:
                prefix, suffix = f".{path.stem}.", f".tmp{path.suffix}"
            else:
                prefix, suffix = f".{path.name}.", temp_suffix
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
            os.close(fd)
            tmps.append(Path(tmp))
        yield tmps
        mode = 0o666 & ~current_umask()
        for tmp, path in zip(tmps, finals, strict=True):
            # mkstemp creates 0600 files; give the final file the usual permissions
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        done = True
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{_culprit(exc, tmps, finals)} ({reason(exc)})") from exc
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if not done:
            remove_empty(created)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, temp_suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``."""
    with atomic_paths([path], temp_suffix=temp_suffix) as (tmp,):
        yield tmp


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def make_parents(folder: str | Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those this call created, outermost first.

    A folder another process creates at the same moment is not ours to remove later, so it is
    not listed.
    """
    folder = Path(folder)
    missing = []
    while not folder.exists() and not folder.is_symlink():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            if not d.is_dir():
                raise
            continue
        created.append(d)
    return created


def remove_empty(created: Sequence[Path]) -> None:
    """Remove the folders :func:`make_parents` created, innermost first, where still empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:  # not empty: someone else's files went in; leave it and its parents
            return


def reason(exc: BaseException) -> str:
    """The operating system's short reason for an OSError ("No space left on device")."""
    cause = exc.__cause__ if isinstance(exc, OutputError) else exc
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(exc)


def _culprit(exc: OSError, tmps: list[Path], finals: list[Path]) -> str:
    """``<file>: cannot write`` for the file an error is about where it can be told, else all."""
    name = getattr(exc, "filename", None)
    # tmps is shorter than finals when making a temporary failed
    for tmp, path in zip(tmps, finals, strict=False):
        if name is not None and Path(name) in (tmp, path):
            return f"{path}: cannot write"
    if len(finals) == 1:
        return f"{finals[0]}: cannot write"
    return f"{finals[0].parent}: cannot write {', '.join(p.name for p in finals)}"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
