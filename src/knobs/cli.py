"""The ``knobs`` command line. Every command goes through the Python API; bad input → exit 2.

Why one error path: a ``KnobsError`` carries a message written for a person (which key, which
file, what is expected), so the CLI prints just that line instead of a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, Optional, ParamSpec, TypeVar

import typer
from rich.console import Console

from knobs.errors import KnobsError

__all__ = ["app", "main", "friendly"]

P = ParamSpec("P")
R = TypeVar("R")

def friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``KnobsError`` into one line on stderr and exit code 2; interrupts say how to resume."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except KnobsError as e:
            _err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _err.print("interrupted: run the same command again (same --name) to resume")
            raise typer.Exit(130) from None

    return wrapper


app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="knobs: the practice cycle of deep-learning training, as software.")
_err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """knobs: the practice cycle of deep-learning training, as software."""


@app.command()
@friendly
def run(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML config (docs/config.md); default: digits MLP"),
    name: Optional[str] = typer.Option(None, "--name", help="run directory name under runs_dir (resumes if unfinished)"),
    runs_dir: Optional[str] = typer.Option(None, "--runs-dir", help="where run directories go (default: runs)"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="number of trials (overrides search.n_trials)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the final summary"),
) -> None:
    """Run the whole practice cycle: split + vault, preflight, search, test once, report."""
    from knobs.config import load_config
    from knobs.pipeline import Display, run as run_cycle

    overrides = {k: v for k, v in {"name": name, "runs_dir": runs_dir, "search.n_trials": trials}.items() if v is not None}
    cfg = load_config(config, overrides)
    run_cycle(cfg, display=Display(quiet=quiet))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; return its exit code (2 for bad input and usage errors)."""
    try:
        app(args=argv, prog_name="knobs")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
