"""``python -m hsi``: the ``hsi`` command line."""

from hsi.cli import app

if __name__ == "__main__":  # pragma: no cover - run as a program
    app(prog_name="hsi")
