"""The ``hsi`` typer application: one-line errors, ``--version``, library messages on stderr.

Every error caused by the user's input is printed as one line ``error: …`` and exits with code 2,
without a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hsi.errors import HSIError

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as click_exceptions


class OneLineErrors(TyperGroup):
    """Usage errors (``--pca abc``, an unknown option) as one ``error: …`` line, exit code 2.

    click prints three lines (Usage, Try, Error) for those; the project's own errors are one line,
    and a script checking stderr should not have to tell the two kinds apart.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        no_args_help = getattr(click_exceptions, "NoArgsIsHelpError", ())
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except no_args_help as exc:  # bare `hsi`: the help text, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            message = " ".join(exc.format_message().split()).rstrip(".")
            ctx = getattr(exc, "ctx", None)
            path = ctx.command_path if ctx is not None else self._command_path(args, kwargs)
            hint = f" (see {path} --help)"
            typer.echo(f"error: {message[:1].lower()}{message[1:]}{hint}", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        # without standalone mode click returns a typer.Exit's code, or the command's None
        sys.exit(code if isinstance(code, int) else 0)

    def _command_path(self, args: tuple, kwargs: dict) -> str:
        """``hsi train`` for ``hsi train --pca``: click's parser raises a missing option value
        before a context exists, so the path is read off the command line."""
        words = kwargs.get("args", args[0] if args else None)
        words = sys.argv[1:] if words is None else list(words)
        path, command = [kwargs.get("prog_name") or "hsi"], self
        for word in words:
            if word.startswith("-"):
                continue
            subcommands = getattr(command, "commands", {})  # a group's; a command has none
            if word not in subcommands:
                break
            command = subcommands[word]
            path.append(word)
        return " ".join(path)


app = typer.Typer(
    cls=OneLineErrors,
    name="hsi",
    help=(
        "Hyperspectral image classification: train HybridSN and friends on a standard or your own "
        "scene, map whole scenes, and measure how results vary over seeds.\n\n"
        "\b\nTypical use:\n"
        "  hsi datasets                          list the standard scenes, cached or not\n"
        "  hsi train --dataset indian_pines --model hybridsn\n"
        "  hsi predict scene.mat --out map.png   map a scene with the latest model\n"
        "  hsi sweep --dataset indian_pines --model hybridsn --seeds 0-9\n\n"
        "Every command has --help. Errors in the input are one line, exit code 2."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(
    help="The standard public scenes: list them (default) or download one into the cache.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(datasets_app, name="datasets")


def _print_version(value: bool) -> None:
    if value:
        from hsi import __version__

        typer.echo(f"hsi {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # no docstring: the app's help text stays the one given to typer.Typer above
    pass


class _EchoHandler(logging.Handler):
    """A log record as a bare line on stderr (the one in use when it is written)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            typer.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - as logging.StreamHandler does
            self.handleError(record)


@contextlib.contextmanager
def library_messages(quiet: bool) -> Iterator[None]:
    """The library's messages (the ``hsi`` loggers) on stderr while a command runs.

    INFO and up, or WARNING and up with --quiet; each as a bare line, as the CLI always
    printed them. The logger's level and handlers are restored afterwards.
    """
    logger = logging.getLogger("hsi")
    handler, level = _EchoHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def user_errors(func):
    """Turn HSIError into ``error: …`` on stderr and exit code 2; Ctrl-C into exit code 130.

    The library's log messages are shown while the command runs (:func:`library_messages`;
    warnings only when the command's ``quiet`` option is on).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with library_messages(bool(kwargs.get("quiet", False))):
                return func(*args, **kwargs)
        except HSIError as exc:
            if not _left_to_process_0(exc):
                typer.echo(f"error: {' '.join(exc.cli_message().split())}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            said = str(exc) or _INTERRUPTED.get(func.__name__, "no output was left half-written")
            typer.echo(f"interrupted: {said}", err=True)
            raise typer.Exit(130) from None
        except (MemoryError, RuntimeError) as exc:
            needed = _out_of_memory(exc)
            if needed is None:
                raise
            advice = _OUT_OF_MEMORY.get(func.__name__, "a machine with more memory")
            typer.echo(f"error: out of memory{needed}; {advice}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _out_of_memory(exc: BaseException) -> str | None:
    """``None`` unless ``exc`` is an allocation that failed (the CPU's or CUDA's); else what
    was asked for, as torch words it (": tried to allocate 37.25 GiB"), or ""."""
    if isinstance(exc, MemoryError):
        return ""
    text = str(exc)
    if not isinstance(exc, _torch_oom()) and "can't allocate memory" not in text:
        return None
    match = re.search(r"[Tt]ried to allocate (?:([\d.]+ ?[KMGT]i?B)|(\d+) bytes)", text)
    if match is None:
        return ""
    size = match.group(1) or f"{int(match.group(2)) / 2**30:,.1f} GiB"
    return f": tried to allocate {size}"


def _torch_oom() -> tuple[type[BaseException], ...]:
    """torch's own out-of-memory error, where torch is already imported (never imported here)."""
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return (oom,) if oom is not None else ()


# What a Ctrl-C that no stage caught leaves, by command (every output is written under a
# temporary name and renamed, so none is ever half there).
_INTERRUPTED = {
    "train": "nothing was saved",
    "predict": "no map was written (with --out-dir, the maps finished so far are kept)",
    "sweep": "the runs finished so far are kept; the same command resumes the sweep",
    "datasets_download": "files downloaded whole are kept; a download cut short leaves nothing",
}


# What needs less memory, by command (the options that size what is allocated)
_OUT_OF_MEMORY = {
    "train": "a smaller --batch-size, --patch, --pca or --width needs less",
    "sweep": "a smaller --batch-size, --patch, --pca or --width, or fewer --jobs, needs less",
    "predict": "a smaller scene (or a machine with more memory) needs less",
    "models": "a smaller --classes, --pca or --patch needs less",
}


def _left_to_process_0(exc: HSIError) -> bool:
    """Under torchrun every process checks the same options: process 0 alone reports a bad
    one. Other errors (a file one node cannot read) are each process's to report."""
    from hsi.errors import ConfigError

    under_torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return under_torchrun and os.environ.get("RANK", "0") != "0" and isinstance(exc, ConfigError)


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
