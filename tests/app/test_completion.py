"""`cliposcope completion`: bash, zsh and fish scripts that know every command and option."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess

import pytest

from cliposcope.app import cli
from cliposcope.app.commands.completion import (
    DIRECTORY,
    FILE,
    SHELLS,
    fish_condition,
    fish_quote,
    path_kind,
)

TOP_LEVEL_COMMANDS = [module.NAME for module in cli.command_modules()]
# `run tor --sample`, as each shell spells an option
NESTED_OPTION = {"bash": "--sample", "zsh": "--sample", "fish": "-l 'sample'"}
# One fish word: a single-quoted string (\\ and \' escaped inside) or a bare word.
FISH_WORD = r"(?:'(?:[^'\\]|\\[\\'])*'|[^\s'\\]+)"


def completion_output(shell: str, capsys) -> str:
    assert cli.main(["completion", shell]) == 0
    return capsys.readouterr().out


def command_action(path: list[str], option: str) -> argparse.Action:
    """The action of ``option`` (an option string or a positional's dest) at ``path``."""
    parser = cli.build_parser()
    for name in path:
        parser = parser._subparsers._group_actions[0].choices[name]
    return next(
        action
        for action in parser._actions
        if option in action.option_strings or action.dest == option
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_names_every_command_and_nested_options(shell, capsys):
    script = completion_output(shell, capsys)
    assert script.strip()
    missing = [name for name in TOP_LEVEL_COMMANDS if not re.search(rf"\b{name}\b", script)]
    assert missing == []
    assert "run" in TOP_LEVEL_COMMANDS and "demo" in TOP_LEVEL_COMMANDS
    assert NESTED_OPTION[shell] in script


def test_an_unknown_shell_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["completion", "ksh"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "ksh" in lines[0]


def test_help_says_how_to_install_each_script(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["completion", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert "cliposcope completion bash > ~/.local/share/bash-completion/completions/" in shown
    assert 'cliposcope completion zsh > "${fpath[1]}/_cliposcope"' in shown
    assert "cliposcope completion fish > ~/.config/fish/completions/cliposcope.fish" in shown


@pytest.fixture
def bash_script(tmp_path, capsys):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    path = tmp_path / "cliposcope.bash"
    path.write_text(completion_output("bash", capsys), encoding="utf-8")
    return path


def bash_completes(script, line: str, cwd) -> list[str]:
    """What the script offers for ``line`` (the cursor at its end), as bash would ask."""
    program = """
        source "$1"
        read -ra COMP_WORDS <<< "$2"
        [[ "$2" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE="$2"
        COMP_POINT=${#COMP_LINE}
        _shtab_cliposcope
        printf '%s\\n' "${COMPREPLY[@]}"
    """
    result = subprocess.run(
        ["bash", "-c", program, "bash", str(script), line],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


def test_the_bash_script_is_valid_bash(bash_script):
    result = subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_bash_script_completes_commands_options_and_paths(bash_script, tmp_path):
    (tmp_path / "results_here").mkdir()
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    assert bash_completes(bash_script, "cliposcope ru", tmp_path) == ["run"]
    assert "tor" in bash_completes(bash_script, "cliposcope run to", tmp_path)
    assert bash_completes(bash_script, "cliposcope run tor --sa", tmp_path) == ["--sample"]
    assert bash_completes(bash_script, "cliposcope completion ", tmp_path) == list(SHELLS)
    offered_folders = bash_completes(bash_script, "cliposcope run tor --out ", tmp_path)
    assert "results_here" in offered_folders and "notes.txt" not in offered_folders


def test_the_zsh_script_is_valid_zsh(tmp_path, capsys):
    script = completion_output("zsh", capsys)
    assert script.startswith("#compdef cliposcope")
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: only the #compdef header was checked")
    path = tmp_path / "_cliposcope"
    path.write_text(script, encoding="utf-8")
    result = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_fish_script_is_well_formed(tmp_path, capsys):
    script = completion_output("fish", capsys)
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    complete_line = re.compile(rf"complete -c cliposcope(?: -[a-zA-Z]+(?: {FISH_WORD})?)*")
    malformed = [line for line in lines if not complete_line.fullmatch(line)]
    assert malformed == []
    assert any("-a 'run'" in line and " -f " in line for line in lines)
    tor_sample = [line for line in lines if "-l 'sample'" in line and "from tor;" in line]
    assert tor_sample and all(" -r " in line for line in tor_sample)
    assert any("-l 'precision'" in line and "-a 'fp32 fp16 bf16'" in line for line in lines)
    if shutil.which("fish") is not None:
        path = tmp_path / "cliposcope.fish"
        path.write_text(script, encoding="utf-8")
        result = subprocess.run(["fish", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_fish_quoting_escapes_quotes_and_neutralises_control_characters():
    assert fish_quote("plain") == "'plain'"
    assert fish_quote("it's a \\ slash") == "'it\\'s a \\\\ slash'"
    quoted = fish_quote("red\x1b[31m text\non two lines\x00\u202e")
    assert quoted == "'red [31m text on two lines'"
    assert not any(ord(character) < 32 or ord(character) == 127 for character in quoted)


def test_fish_conditions_keep_nested_commands_apart_from_top_level_ones():
    parser = cli.build_parser()
    top_level_export = fish_condition(parser, ("export",))
    lab_export = fish_condition(parser, ("lab", "export"))
    assert top_level_export.startswith("__fish_seen_subcommand_from export; and not ")
    assert "lab" in top_level_export.split("not ")[1].split()
    assert lab_export.startswith(
        "__fish_seen_subcommand_from lab; and __fish_seen_subcommand_from export; and not "
    )
    assert "export" not in lab_export.split("not ")[1].split()
    root = fish_condition(parser, ())
    assert set(TOP_LEVEL_COMMANDS) <= set(root.split("not __fish_seen_subcommand_from ")[1].split())


@pytest.mark.parametrize(
    ("path", "option", "kind"),
    [
        (["run", "tor"], "--out", DIRECTORY),
        (["run", "ior"], "--scenes", DIRECTORY),
        (["encode"], "--out", FILE),
        (["encode"], "--checkpoint", FILE),
        (["lab", "export"], "checkpoint", FILE),
        (["report"], "results", DIRECTORY),
        (["run", "tor"], "--n", None),
        (["run", "tor"], "--precision", None),
        (["completion"], "shell", None),
    ],
)
def test_options_that_take_a_path_complete_files_or_folders(path, option, kind):
    assert path_kind(command_action(path, option)) == kind
