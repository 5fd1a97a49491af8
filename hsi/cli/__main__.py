"""``python -m hsi.cli``: the ``hsi`` command."""

from hsi.cli import app

if __name__ == "__main__":
    app(prog_name="hsi")
