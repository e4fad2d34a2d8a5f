"""The `videolights` command: every command line under one name, each subcommand its module's own."""
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from video_lights import cli


def _run(main, argv, capsys):
    """(exit status, stdout, stderr) of an in-process main(argv); argparse's exits count as returns."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_subcommand_is_its_module(name, capsys):
    """`videolights NAME --help` prints what `python -m MODULE --help` prints, and exits the same."""
    module = importlib.import_module(cli.COMMANDS[name][0])
    if not hasattr(module, "main"):
        module = importlib.import_module(cli.COMMANDS[name][0] + ".__main__")
    ours = _run(cli.main, name.split() + ["--help"], capsys)
    theirs = _run(module.main, ["--help"], capsys)
    assert ours == theirs and ours[0] == 0 and ours[1].strip()


def test_help_lists_every_command_with_one_line_and_version_is_the_metadata(capsys):
    code, out, _ = _run(cli.main, ["--help"], capsys)
    assert code == 0
    for name, (_, line) in cli.COMMANDS.items():
        assert f"  {name}" in out and line in out
    code, out, _ = _run(cli.main, ["--version"], capsys)
    assert code == 0 and out == f"videolights {importlib.metadata.version('video_lights')}\n"
    import video_lights
    assert video_lights.__version__ == importlib.metadata.version("video_lights")


def test_unknown_or_missing_commands_are_one_line_and_status_2(capsys):
    for argv in (["trian"], ["data", "chekc"], ["data"]):
        code, out, err = _run(cli.main, argv, capsys)
        assert code == 2 and out == "" and err.startswith("error: videolights: unknown command")
        assert err.count("\n") == 1
    code, _, err = _run(cli.main, [], capsys)
    assert code == 2 and "usage: videolights" in err


def test_the_installed_script_runs_a_real_command(tmp_path):
    exe = shutil.which("videolights", path=str(Path(sys.executable).parent)) or shutil.which("videolights")
    if exe is None:
        pytest.skip("the videolights console script is not installed (pip install -e .)")
    r = subprocess.run([exe, "data", "synth", "--out", str(tmp_path / "d"), "--n_train", "4", "--n_val", "2",
                        "--n_test", "0"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "annotations" / "highlight_train_release.jsonl").is_file()
