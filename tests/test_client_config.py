"""The client's configuration, seen by a user in a real terminal (tmux): options from the
config file, the environment and switches (later ones winning), a broken config file,
colours and themes (`NO_COLOR`, `--color`), and the start-up files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

# The prompt in the red a test theme gives it, as tmux shows it.
RED_PROMPT = "\x1b[38;2;255;0;0m>>>"
RED_THEME = '[themes.red]\nbase = "mono"\nprompt = "#ff0000"\n'


@pytest.fixture
def config_dir(home: Path) -> Path:
    """Where hotrepl looks for config.toml and startup.py (~/.config/hotrepl)."""
    path = home / ".config" / "hotrepl"
    path.mkdir(parents=True)
    return path


def prompt_line(repl) -> str:
    return next(line for line in reversed(repl.screen(escapes=True).splitlines()) if ">>>" in line)


def test_the_file_environment_and_switches_set_options_later_ones_winning(start_repl, config_dir):
    (config_dir / "config.toml").write_text(f'color = "always"\ntheme = "red"\n{RED_THEME}')
    repl = start_repl()
    assert prompt_line(repl).startswith(RED_PROMPT), "the file turns colours on (over NO_COLOR) and picks the theme"

    repl = start_repl(env={"HOTREPL_COLOR": "never"})
    assert "\x1b[" not in prompt_line(repl), "the environment wins over the file"

    repl = start_repl("--color", "always", env={"HOTREPL_COLOR": "never"})
    assert prompt_line(repl).startswith(RED_PROMPT), "a switch wins over the environment"

    repl = start_repl("--config", "color=never")
    assert "\x1b[" not in prompt_line(repl), "--config NAME=VALUE is a switch too"


def test_elapsed_threshold_from_a_switch(start_repl):
    repl = start_repl("--elapsed-threshold", "0.3")
    out = repl.run("import time; time.sleep(0.5); print('slept')")
    assert re.fullmatch(r"slept\nelapsed 0\.\d\d s", out), out
    assert repl.run("1 + 1") == "2", "quick cells say nothing"


def test_a_broken_config_file_is_explained_and_the_defaults_used(start_repl, config_dir):
    config = config_dir / "config.toml"
    config.write_text('color = "always"\ncolr = "never"\nautoawait = "maybe"\n')
    repl = start_repl()
    screen = repl.screen()
    assert f"hotrepl: {config}:2: unknown option 'colr' (did you mean 'color'?)" in screen
    assert f'hotrepl: {config}:3: autoawait: expected on or off, got "maybe"' in screen
    assert prompt_line(repl).startswith("\x1b["), "the good key still counts"
    assert repl.run("await __import__('asyncio').sleep(0, result='awaited')") == "'awaited'"

    config.write_text('color = "always"\nthis is not toml\n')
    repl = start_repl()
    assert re.search(rf"hotrepl: {re.escape(str(config))}:2: not valid TOML: .*using the defaults", repl.screen())
    assert "\x1b[" not in prompt_line(repl), "a file that does not parse counts for nothing"
    assert repl.run("1 + 1") == "2"


def test_a_bad_switch_is_an_error(hotrepl_bin, base_env):
    done = subprocess.run([hotrepl_bin, "--autoawait", "maybe"], env=base_env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 2
    assert done.stderr == 'hotrepl: --autoawait: expected on or off, got "maybe"\n'
    done = subprocess.run([hotrepl_bin, "--config", "colour=never"], env=base_env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 2
    assert done.stderr == "hotrepl: --config colour: unknown option 'colour' (did you mean 'color'?)\n"


def test_help_lists_every_option(hotrepl_bin, base_env):
    done = subprocess.run([hotrepl_bin, "--help"], env=base_env, capture_output=True, text=True, timeout=10)
    for switch in ["--color", "--theme", "--autoawait", "--pdb", "--elapsed-threshold", "--image-protocol",
                   "--confirm-exit", "--editing-mode", "--history-size", "--pretty-width", "--config"]:
        assert switch in done.stdout, switch


def test_no_color_turns_colours_off(start_repl):
    coloured = start_repl(env={"NO_COLOR": ""})  # empty counts as unset
    assert prompt_line(coloured).startswith("\x1b[")
    coloured.type("1/0")
    coloured.press("Enter")
    coloured.wait_for("ZeroDivisionError")
    assert re.search(r"\x1b\[[0-9;]*mZeroDivisionError", coloured.screen(escapes=True))

    plain = start_repl()  # the suite's NO_COLOR=1
    plain.run("1/0")
    screen = plain.screen(escapes=True)
    assert "ZeroDivisionError" in screen and "\x1b[" not in screen


def test_traceback_parts_are_coloured_from_the_theme(start_repl, config_dir):
    (config_dir / "config.toml").write_text(
        '[themes.marked]\nfile = "#010101"\nline_number = "#020202"\nexception = "#030303"\n'
    )
    repl = start_repl("--color", "always", "--theme", "marked")
    repl.run("def f():\n    raise ValueError('no')")
    repl.type("f()")
    repl.press("Enter")
    repl.wait_for("ValueError: no")
    screen = repl.screen(escapes=True)
    assert re.search(r"File \x1b\[38;2;1;1;1m\"<cell 2>\"\x1b\[[0-9;]*m, line \x1b\[38;2;2;2;2m1", screen), screen
    assert "\x1b[38;2;3;3;3mValueError" in screen


def test_vi_editing_mode(start_repl):
    repl = start_repl("--editing-mode", "vi")
    repl.type("x = 'typed'")
    repl.press("Escape")
    repl.type("0dw")  # normal mode: to the start, delete a word
    repl.type("i")
    repl.type("y")
    repl.press("Enter")
    repl.wait_prompt(2)
    assert repl.run("y") == "'typed'"


def test_confirm_exit_asks_first(start_repl):
    repl = start_repl("--confirm-exit", "on")
    repl.press("C-d")
    repl.wait_for(r"Do you really want to exit \(\[y\]/n\)\?$")
    repl.type("n")
    repl.press("Enter")
    assert repl.run("'still here'") == "'still here'"
    repl.press("C-d")
    repl.wait_for(r"exit \(\[y\]/n\)\?$")
    repl.press("Enter")
    assert repl.wait_exit() == 0


def test_startup_files_run_before_the_first_prompt(start_repl, config_dir, tmp_path):
    python_startup = tmp_path / "pythonstartup.py"
    python_startup.write_text("order = ['PYTHONSTARTUP']\n")
    # A value at the end is not shown, as with Python's own PYTHONSTARTUP.
    (config_dir / "startup.py").write_text("order.append('startup.py')\nprint('started up')\nlen(order)\n")
    repl = start_repl(env={"PYTHONSTARTUP": str(python_startup)})
    lines = repl.lines()
    assert lines[-2:] == ["started up", ">>>"], lines
    assert repl.run("order") == "['PYTHONSTARTUP', 'startup.py']"


def test_an_error_in_a_startup_file_is_shown_and_the_repl_starts(start_repl, config_dir):
    startup = config_dir / "startup.py"
    startup.write_text("x = 1\nundefined_name\n")
    repl = start_repl()
    screen = repl.screen()
    assert f'File "{startup}", line 2' in screen
    assert "NameError: name 'undefined_name' is not defined" in screen
    assert repl.run("x") == "1"


def test_config_magic_shows_where_each_value_came_from_and_changes_the_client_too(start_repl, config_dir):
    config = config_dir / "config.toml"
    config.write_text('# limits\npretty_max_items = 3\n')
    repl = start_repl(env={"HOTREPL_CONFIRM_EXIT": "on"})
    assert repl.run("list(range(10))") == "[0, 1, 2, ... 7 more]", "the kernel acts on the file's option"
    shown = repl.run("%config pretty_max_items")
    assert shown.splitlines()[0].split() == ["pretty_max_items", "3", f"({config}:2;", "kernel)"], shown
    assert repl.run("%config confirm_exit").splitlines()[0].split() == [
        "confirm_exit", "on", "($HOTREPL_CONFIRM_EXIT;", "client)"]

    assert repl.run("%config elapsed_threshold 0.2") == "elapsed_threshold = 0.2"
    out = repl.run("import time; time.sleep(0.4); print('slept')")
    assert re.fullmatch(r"slept\nelapsed 0\.\d\d s", out), f"the client took the kernel's change: {out}"
