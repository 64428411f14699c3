import subprocess
import sys

import liqe_lib
from liqe_lib.cli import main


def test_version_names_the_package(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert capsys.readouterr().out.strip() == f"liqe-repro {liqe_lib.__version__}"


def test_console_script_help_lists_the_program():
    out = subprocess.run([sys.executable, "-m", "liqe_lib.cli", "--help"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: liqe")
