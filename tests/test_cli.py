import subprocess
import sys

from frontalize import __version__
from frontalize.cli.main import main


def test_version_and_help(capsys):
    out = subprocess.run([sys.executable, "-m", "frontalize.cli.main", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"frontalize {__version__}"
    assert main([]) == 2
    assert "synthpie" in capsys.readouterr().out


def test_synthpie_cli_refuses_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    assert main(["synthpie", "--preset", "tiny", "--out", str(tmp_path), "--quiet"]) == 2
    assert "not a SynthPIE tree" in capsys.readouterr().err
