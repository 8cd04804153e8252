"""The command line's own surface: ``--version`` and the option names other tools use."""

import re

from knobs import __version__
from knobs.cli import main


def test_version_names_knobs_torch_and_python(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"knobs {re.escape(__version__)} \(torch [^,]+, Python \d+\.\d+\.\d+\)", out), out


def test_n_trials_is_an_alias_of_trials(capsys):
    assert main(["run", "--help"]) == 0
    assert "--n-trials" in capsys.readouterr().out


def test_every_commands_help_shows_its_whole_summary(capsys):
    # rich reads "[autopilot]" as markup and dropped it: "search, , test once"
    import typer.main

    from knobs.cli import app

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        doc = command.help or ""
        for sub in getattr(command, "commands", {}).values():
            doc += sub.help or ""
        assert not re.search(r"(?<!\\)\[[a-z][a-z_. ]*\]", doc), (name, doc)
    assert main(["run", "--help"]) == 0
    assert "search, the autopilot if asked, test once" in " ".join(capsys.readouterr().out.split())
