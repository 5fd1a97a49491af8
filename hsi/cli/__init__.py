"""The ``hsi`` command line: thin — parse, call the API, print.

One module per job: :mod:`~hsi.cli.app` (the typer app, one-line errors, messages),
:mod:`~hsi.cli.options` (the options train and sweep share, and the TrainConfig they build),
:mod:`~hsi.cli.datasets` (``hsi datasets``, ``hsi models``), :mod:`~hsi.cli.train`,
:mod:`~hsi.cli.predict` and :mod:`~hsi.cli.sweep`. Importing this package registers every
command on :data:`app`, the console entry point.
"""

from __future__ import annotations

from hsi.cli import datasets, predict, sweep, train  # noqa: F401 - register the commands
from hsi.cli.app import app
from hsi.cli.options import build_config, with_training_options
from hsi.cli.sweep import _options_for

__all__ = ["_options_for", "app", "build_config", "with_training_options"]
