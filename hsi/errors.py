"""Errors a user can act on.

Every failure caused by the user's input (a file, an option, a bundle) raises an :class:`HSIError`
subclass whose message is one line naming the culprit and what was expected. The CLI prints it as
``error: <message>`` and exits with code 2, without a traceback.
"""

from __future__ import annotations

import re


class HSIError(Exception):
    """Base class: the message is shown to the user verbatim, on one line.

    Messages name parameters as the Python API spells them (``train_size``); ``params`` lists
    those names, and :meth:`cli_message` spells them as the command line does
    (``--train-size``), so each front end speaks its users' language.
    """

    def __init__(self, message: str = "", *, params: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.params = tuple(params)

    def cli_message(self) -> str:
        text = str(self)
        for name in self.params:
            # the word alone, never part of a path or file name (/tmp/out/a.png, data_dir.txt),
            # nor a value: quoted (got 'dataset'), or after its option (`out out` is `--out out`)
            word = rf"(?<![\w./\\'-])(?<!{re.escape(name)} ){re.escape(name)}(?![\w/\\'-])(?!\.\w)"
            text = re.sub(word, option_flag(name), text)
        return text


def option_flag(param: str) -> str:
    """``train_size`` → ``--train-size``."""
    return "--" + param.replace("_", "-")


class DataError(HSIError):
    """A scene or ground-truth file cannot be read or does not make sense."""


class DownloadError(HSIError):
    """A scene could not be fetched, or is missing and cannot be fetched."""


class ChecksumError(DownloadError):
    """A file's content does not match the checksum it is known or recorded to have."""


class ConfigError(HSIError):
    """An option or hyperparameter is out of range or inconsistent with the data."""


class ModelError(HSIError):
    """An unknown model name, an unknown option, or a shape the model cannot take."""


class BundleError(HSIError):
    """A model bundle is missing, not a bundle, or does not fit the scene it is applied to."""


class OutputError(HSIError, OSError):
    """An output cannot be written: a file where a folder should be, no permission, a full disk.

    An OSError too, so library callers that handle file-system errors the usual way still do.
    """


class TrainingError(HSIError):
    """Training cannot go on: the loss or the weights stopped being finite numbers."""
