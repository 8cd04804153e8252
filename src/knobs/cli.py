"""The ``knobs`` command line. Every command goes through the Python API; bad input → exit 2.

Why one error path: a ``KnobsError`` carries a message written for a person (which key, which
file, what is expected), so the CLI prints just that line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from pathlib import Path
from typing import Callable, List, Optional, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
            # NOTE: escaped: messages name sections such as [balance], which rich would read as markup
            _err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _err.print("interrupted: run the same command again (same --name) to resume")
            raise typer.Exit(130) from None

    return wrapper


app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="knobs: the practice cycle of deep-learning training, as software.")
_err = Console(stderr=True)


def _version(value: bool) -> None:
    """``--version``: knobs' version, with the torch and Python it runs on (read from the installed
    packages' metadata: nothing is imported)."""
    if not value:
        return
    import platform
    from importlib import metadata

    from knobs import __version__

    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "not installed"
    typer.echo(f"knobs {__version__} (torch {torch}, Python {platform.python_version()})")
    raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version (and torch's, Python's) and exit")) -> None:
    """knobs: the practice cycle of deep-learning training, as software."""


_CONFIG = typer.Option(None, "--config", "-c", help="TOML config (docs/config.md); default: digits MLP")
_NAME = typer.Option(None, "--name", help="run directory name under runs_dir (resumes if unfinished)")
_RUNS_DIR = typer.Option(None, "--runs-dir", help="where run directories go (default: runs)")
_TRIALS = typer.Option(None, "--trials", "--n-trials", "-n", help="number of trials (overrides search.n_trials)")
_SEED = typer.Option(None, "--seed", help="overrides seed (split, sampler, trials)")
_QUIET = typer.Option(False, "--quiet", "-q", help="print only the final summary")
_THREADS = typer.Option(None, "--threads", min=1, help="torch threads (default: the run's train.threads, as it "
                        "trained)")
_WORKERS = typer.Option(None, "--workers", "-w", help="trials at once: local processes or Ray tasks (search.workers)")
_EXECUTOR = typer.Option(None, "--executor", help="local | ray | population: where trials run (search.executor)")
_POPULATION = typer.Option(None, "--population", "-P", help="trials trained at once with --executor population "
                           "(search.population)")
_ADDRESS = typer.Option(None, "--address", help="Ray cluster: auto, host:port or ray://host:port (search.ray_address)")
_AUTOPILOT = typer.Option(False, "--autopilot", help="after the search, diagnose the best configuration and try "
                          "one recommended change at a time, keeping it only if validation improves (autopilot.enabled)")
_STORAGE = typer.Option(None, "--storage", help="study database URL, e.g. postgresql://user:pw@host/db (search.storage)")


def _overrides(name, runs_dir, trials, seed, autopilot, workers, executor, address, storage, population) -> dict:
    """The config keys `run` and `tune` set from their options (None: the config's own value)."""
    return {"name": name, "runs_dir": runs_dir, "search.n_trials": trials, "seed": seed,
            "autopilot.enabled": autopilot or None, "search.workers": workers, "search.executor": executor,
            "search.ray_address": address, "search.storage": storage, "search.population": population}


@app.command()
@friendly
def run(config: Optional[Path] = _CONFIG, name: Optional[str] = _NAME, runs_dir: Optional[str] = _RUNS_DIR,
        trials: Optional[int] = _TRIALS, seed: Optional[int] = _SEED, quiet: bool = _QUIET,
        workers: Optional[int] = _WORKERS, executor: Optional[str] = _EXECUTOR, address: Optional[str] = _ADDRESS,
        storage: Optional[str] = _STORAGE, population: Optional[int] = _POPULATION,
        autopilot: bool = _AUTOPILOT) -> None:
    """Run the whole practice cycle: split + vault, preflight, search, the autopilot if asked, test once, report."""
    _cycle(config, _overrides(name, runs_dir, trials, seed, autopilot, workers, executor, address, storage,
                              population), quiet, final_test=True)


@app.command()
@friendly
def tune(config: Optional[Path] = _CONFIG, name: Optional[str] = _NAME, runs_dir: Optional[str] = _RUNS_DIR,
         trials: Optional[int] = _TRIALS, seed: Optional[int] = _SEED, quiet: bool = _QUIET,
         workers: Optional[int] = _WORKERS, executor: Optional[str] = _EXECUTOR, address: Optional[str] = _ADDRESS,
         storage: Optional[str] = _STORAGE, population: Optional[int] = _POPULATION,
         autopilot: bool = _AUTOPILOT) -> None:
    """Search only: the cycle up to the best trial (and the autopilot's walk), with the test split sealed."""
    _cycle(config, _overrides(name, runs_dir, trials, seed, autopilot, workers, executor, address, storage,
                              population), quiet, final_test=False)


@app.command()
@friendly
def worker(
    storage: str = typer.Option(..., "--storage", help="the run's study database URL (or a run directory)"),
    study: str = typer.Option(..., "--study", help="the study: the run's name (\"search\" in a run's own study.db)"),
    n_trials: Optional[int] = typer.Option(None, "--n-trials", "-n", help="run this many trials (default: until "
                                           "the run has its search.n_trials, counting every worker's)"),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="local processes of this worker"),
) -> None:
    """Join a study started by `knobs run`/`tune` (e.g. in PostgreSQL) and run its trials here."""
    from knobs.pipeline.commands._worker import serve

    out = Console()
    result = serve(_storage_url(storage), study, n_trials=n_trials, workers=workers,
                   on_trial=lambda s, t: out.print(f"trial {t.number}: {t.state.value}"
                                                    + ("" if t.value is None else f" {t.value:.6g}")))
    out.print(f"study {result['study']!r}: {result['ran']} trials finished here; "
              f"{result['finished']} of {result['budget']} finished in all")


def _cycle(config: Optional[Path], overrides: dict, quiet: bool, final_test: bool) -> None:
    from knobs.config import load_config
    from knobs.pipeline import Display, run as run_cycle

    cfg = load_config(config, {k: v for k, v in overrides.items() if v is not None})
    run_cycle(cfg, display=Display(quiet=quiet), final_test=final_test)


@app.command("lr-find")
@friendly
def lr_find_command(
    config: Optional[Path] = _CONFIG,
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="default: the reference config's optimizer"),
    steps: int = typer.Option(200, "--steps", help="steps of the exponential LR sweep"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write the curves and suggestions as JSON"),
) -> None:
    """LR range test over a few seeds: the LR of steepest descent, the divergence point, a range to search."""
    import json

    from knobs.config import load_config
    from knobs.pipeline.commands._lr_range import find_lr

    _check_output(output, "--output")
    result, params = find_lr(load_config(config), optimizer=optimizer, steps=steps)
    low, high = result.suggest_range()
    out = Console()
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items() if k != "lr")
    out.print(f"model: the centre of the space ({shown})")
    out.print(f"steepest descent at lr = [bold]{result.suggested_lr:.3g}[/]; divergence at lr = {_fmt_lr(result.divergence_lr)}")
    out.print(f"search range, for \\[search.space]:  lr = {{ low = {low:.2g}, high = {high:.2g}, log = true }}")
    if output is not None:
        output.write_text(json.dumps(result.to_dict(), indent=2))
        out.print(f"curves written to {output}")


def _check_output(path: Optional[Path], option: str) -> None:
    """Refuse an output file that cannot be written before the work that fills it is done."""
    if path is not None:
        from knobs.pipeline.commands._outputs import check_output_file

        check_output_file(path, option)


def _fmt_lr(value: Optional[float]) -> str:
    return "not reached" if value is None else f"{value:.3g}"


@contextlib.contextmanager
def _warnings_shown():
    """Print the data warnings a command raised (``knobs.data``'s), one line each, after it ends."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, UserWarning) and warning.category.__module__.startswith("knobs."):
            _err.print(f"[bold yellow]warning:[/] {escape(str(warning.message))}", highlight=False, soft_wrap=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)


@app.command("predict")
@friendly
def predict_command(
    run_dir: Path = typer.Option(..., "--run", help="a finished run directory, e.g. runs/exp1"),
    input_path: Path = typer.Option(..., "--input", "-i", help="CSV/TSV with the run's feature columns, an "
                                    "image or a folder of images, or .npy features (built-in data)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="default: <input>.predictions.csv"),
    threads: Optional[int] = _THREADS,
) -> None:
    """Apply a finished run's preprocessing and final model (single or ensemble) to new data."""
    from knobs.pipeline.commands._predict import predict_file

    with _warnings_shown():  # unseen categories: counted and named, not silent
        path = predict_file(run_dir, input_path, output, threads=threads)
    Console().print(f"predictions written to {path}")


@app.command("evaluate")
@friendly
def evaluate_command(
    run_dir: Path = typer.Option(..., "--run", help="a finished run directory, e.g. runs/exp1"),
    input_path: Path = typer.Option(..., "--input", "-i", help="labelled data: a CSV/TSV with the run's feature "
                                    "and target columns, a folder of class folders (images), or an .npz of X and y"),
    target: Optional[str] = typer.Option(None, "--target", help="the input's target column (default: the run's; a multi-label run's label columns comma-separated)"),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="the input's text column (text runs; "
                                              "default: the run's)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="also write the metrics and intervals as JSON"),
    threads: Optional[int] = _THREADS,
) -> None:
    """Score labelled data with a finished run's final model (single or ensemble, its threshold), with 95% intervals."""
    import json

    from rich.table import Table

    from knobs.pipeline.commands._evaluate import evaluate_file
    from knobs.pipeline.commands._outputs import check_output_file

    if json_path is not None:
        check_output_file(json_path, "--json", suffix=".json")
    with _warnings_shown():
        result = evaluate_file(run_dir, input_path, target=target, text_column=text_column, threads=threads)
    skipped = result["skipped"]["count"]  # unreadable images left out (run's data.bad_files = "skip"): said
    rows = (f"{result['n']} of {result['n'] + skipped} images ({skipped} unreadable, skipped)" if skipped
            else f"{result['n']} rows")
    table = Table(title=f"{result['input']}: {rows}, {result['final_model']} model")
    for column in ("metric", "value", "95% interval"):
        table.add_column(column)
    for name, value in result["metrics"].items():
        if isinstance(value, float):
            low_high = result["intervals"].get(name)
            table.add_row(name, f"{value:.4f}", "" if low_high is None else f"[{low_high[0]:.4f}, {low_high[1]:.4f}]")
    console = Console()
    console.print(table)
    console.print(f"intervals: {result['interval_method']}")
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2))
        console.print(f"written to {json_path}")


@app.command("check")
@friendly
def check_command(
    config: Optional[Path] = _CONFIG,
    strict: bool = typer.Option(False, "--strict", help="exit 1 on a failed warning-level check too"),
) -> None:
    """Preflight only: data checks, initial loss, batch independence, tiny-subset overfit and gradient check on the
    config's reference model. Exit 1 when a check fails with severity error (--strict: any failure)."""
    from knobs.config import load_config
    from knobs.pipeline import check_config
    from knobs.pipeline import Display

    results = check_config(load_config(config))
    Display().preflight(results)
    failed = [r for r in results if not r.passed and (strict or r.severity == "error")]
    for r in failed:
        _err.print(f"[bold red]{escape(r.name)}:[/] {escape(r.message)}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command("diagnose")
@friendly
def diagnose_command(
    config: Optional[Path] = _CONFIG,
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the findings and evidence as JSON"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="epochs of the watched run (default: min(train.epochs, 20))"),
) -> None:
    """Preflight, a short watched training of the reference model, and what is wrong with it.
    Exit 1 when a finding has severity error."""
    import json

    from knobs.config import load_config
    from knobs.pipeline import diagnose_config

    _check_output(json_path, "--json")
    report = diagnose_config(load_config(config), epochs=epochs)
    Console().print(report.table())
    if report.ok:
        Console().print("[green]no warnings or errors[/]")
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict(), indent=2))
        Console().print(f"findings written to {json_path}")
    if any(f.severity == "error" for f in report.findings):
        raise typer.Exit(1)


@app.command("dashboard")
@friendly
def dashboard_command(
    runs_dir: Path = typer.Argument(Path("runs"), help="the folder of run directories (default: runs)"),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="port to listen on (0: a free one)"),
    host: Optional[str] = typer.Option(None, "--host", help="listen on this address instead of 127.0.0.1 "
                                       "(e.g. 0.0.0.0); a token is then required, printed once at start"),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="open the page in a web browser"),
    storage: Optional[List[str]] = typer.Option(None, "--storage", help="a database URL with its password that "
                                                "runs keep their studies in (search.storage); repeat for several"),
) -> None:
    """A live, read-only web page over every run in RUNS_DIR (loopback only unless --host)."""
    try:
        from knobs.dashboard import serve
    except ImportError as e:
        raise KnobsError(f"knobs dashboard needs the dashboard extra ({e.name} is missing): "
                         "pip install 'knobs[dashboard]'") from None
    serve(runs_dir, host=host, port=port, open_browser=open_browser, say=lambda line: Console().print(line, highlight=False,
          soft_wrap=True, markup=False), storage=storage or ())


studies = typer.Typer(help="Inspect stored studies (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(studies, name="studies")


@studies.command("list")
@friendly
def studies_list(storage: str = typer.Argument(..., help="database URL or a run directory, e.g. runs/exp1")) -> None:
    """One line per study: trials by state and the best value."""
    from rich.table import Table

    from knobs.storage import list_studies

    table = Table()
    for column in ("study", "direction", "trials", "complete", "pruned", "failed", "running", "best"):
        table.add_column(column)
    for row in list_studies(_storage_url(storage)):
        best = "–" if row["best_value"] is None else f"{row['best_value']:.6g}"
        table.add_row(row["name"], row["direction"], *(str(row[k]) for k in
                      ("n_trials", "n_complete", "n_pruned", "n_failed", "n_running")), best)
    Console().print(table)


@studies.command("show")
@friendly
def studies_show(
    storage: str = typer.Argument(..., help="database URL or a run directory"),
    name: Optional[str] = typer.Option(None, "--study", help="study name (default: the only one)"),
    top: int = typer.Option(20, "--top", min=1, help="how many trials to list, best first"),
) -> None:
    """The trials of one study, best first, with their configurations."""
    from knobs.pipeline.ui._display import trials_table
    from knobs.study import Study

    study = Study.load(_storage_url(storage), name)
    Console().print(trials_table(study.trials, "value", study.direction, top=top))


def _storage_url(storage: str) -> str:
    """A run directory or a study.db path stands for its SQLite URL."""
    if "://" in storage:
        return storage
    path = Path(storage)
    path = path / "study.db" if path.is_dir() else path
    if not path.is_file():
        raise KnobsError(f"no study database at {path}; give a run directory, a study.db file or a database URL")
    return f"sqlite:///{path.resolve()}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; return its exit code (2 for bad input and usage errors)."""
    try:
        app(args=argv, prog_name="knobs")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
