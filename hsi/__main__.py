"""``python -m hsi`` (and ``torchrun … -m hsi train …``): the ``hsi`` command."""

from hsi.cli import app

if __name__ == "__main__":
    app(prog_name="hsi")
