"""The README stays true: every command it names exists, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from flows.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    names = set()
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        names.add(name)
        for sub in getattr(command, "commands", {}):
            names.add(f"{name} {sub}")
    return names


def test_every_command_in_the_readme_exists() -> None:
    named = set(re.findall(r"`shoppulse ([a-z-]+(?: [a-z-]+)?)", README))
    known = cli_commands()
    missing = {n for n in named if n not in known and n.split(" ")[0] not in known}
    assert not missing, f"README names commands the CLI lacks: {sorted(missing)}"


def test_every_command_is_in_the_readme() -> None:
    top = {n for n in cli_commands() if " " not in n}
    undocumented = {n for n in top if f"`shoppulse {n}" not in README}
    assert not undocumented, f"commands missing from the README: {sorted(undocumented)}"


def test_readme_shows_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README


def test_the_readme_links_only_to_files_in_the_repository() -> None:
    root = Path(__file__).resolve().parent.parent
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links, "the README links its docs"
    missing = [link for link in links if "://" not in link and not (root / link).exists()]
    assert missing == [], f"README links to files that are not in the repository: {missing}"
    assert "DESIGN.md" not in README
