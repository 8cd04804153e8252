"""What a person sees in the terminal: progress bars while it works, tables when it is done."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from knobs.errors import TrialError
from knobs.metrics import HEADLINE
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Display", "trials_table", "autopilot_table"]


class Display:
    """Rich console output; ``quiet=True`` prints only the final summary."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or _console()
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def preflight(self, results: Sequence[Any]) -> None:
        table = Table(title="Preflight", show_lines=False)
        for column in ("check", "result", "measured", "expected"):
            table.add_column(column)
        for r in results:
            mark = "[green]pass[/]" if r.passed else ("[red]FAIL[/]" if r.severity == "error" else "[yellow]warn[/]")
            table.add_row(r.name, mark, _short(r.measured), r.expected)
        if not self.quiet:
            self.console.print(table)

    def autopilot_round(self, round_: dict) -> None:
        """The two questions about the configuration the autopilot stands on, and what it will try."""
        def verdict(ok: bool, problems: list[dict]) -> str:
            return "[green]yes[/]" if ok else "[yellow]no[/] (" + ", ".join(p["code"] for p in problems) + ")"
        self.say(f"[bold]autopilot[/] on trial {round_['trial']} ({_fmt(round_['value'])}): fits the training data? "
                 f"{verdict(round_['fits'], round_['fit_problems'])}; generalizes? "
                 f"{verdict(round_['generalizes'], round_['generalize_problems'])}"
                 + (f" — next: {round_['changes'][0]}" if round_["changes"] else " — nothing left to try"))

    def autopilot_step(self, step: dict) -> None:
        mark = {"kept": "[green]kept[/]", "rejected": "[yellow]rejected[/]"}.get(step["outcome"], "[red]failed[/]")
        self.say(f"  {_fmt(step['value_before'])} → {_fmt(step['value_after'])}: {mark} ({step['why']})")

    @contextlib.contextmanager
    def search(self, total: int, done: int, epochs: int, metric: str = "val_loss") -> Iterator["_SearchProgress"]:
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=self.console, disable=self.quiet, transient=False,
        )
        with progress:
            yield _SearchProgress(progress, total, done, epochs, metric)

    def summary(self, summary: dict, trials: Sequence[FrozenTrial], metric: str, direction: str) -> None:
        self.console.print(trials_table(trials, metric, direction))
        cv = summary.get("cv")
        if cv:
            spread = ", ".join(f"{k} {cv['mean'][k]:.4f} ± {cv['std'][k]:.4f}" for k in ("val_loss", "val_accuracy")
                               if k in cv["mean"])
            self.console.print(f"best trial over {cv['k']} folds: {spread}")
        autopilot = summary.get("autopilot")
        if autopilot and autopilot["steps"]:
            self.console.print(autopilot_table(autopilot))
        elif autopilot:
            self.console.print(f"autopilot: no change tried on trial {autopilot['end']['trial']} "
                               f"(stopped: {autopilot['stopped']})")
        test = summary["test"]
        if test is None:
            self._advice(summary)
            self.console.print(f"search done; the test split stays sealed. run directory: [bold]{summary['run_dir']}[/]")
            return
        final = summary.get("final_model") or "single"
        table = Table(title=f"Test split, {final} model, n = {test.get('n')} (vault opened {summary['vault']['openings']}×)")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("95% interval", justify="right")
        intervals = test.get("intervals") or {}
        for key in (k for k in HEADLINE if k in test):
            low_high = intervals.get(key)
            table.add_row(key, "–" if test[key] is None else f"{test[key]:.4f}",
                          f"{low_high[0]:.4f}–{low_high[1]:.4f}" if low_high else "")
        self.console.print(table)
        threshold = summary.get("threshold")
        if threshold and "thresholds" in threshold:
            tuned, cuts = threshold["test"], threshold["thresholds"]
            self.console.print(f"a threshold per label ({min(cuts):.3g}–{max(cuts):.3g}, tuned on validation for "
                               f"{threshold['metric']}): test macro_f1 {tuned['macro_f1']:.4f}, subset_accuracy "
                               f"{tuned['subset_accuracy']:.4f}")
        elif threshold:
            tuned = threshold["test"]
            self.console.print(f"decision threshold {threshold['threshold']:.3g} (tuned on validation for "
                               f"{threshold['metric']}): test balanced_accuracy {tuned['balanced_accuracy']:.4f}, "
                               f"macro_f1 {tuned['macro_f1']:.4f}")
        self._advice(summary)
        self.console.print(f"run directory: [bold]{summary['run_dir']}[/]  (report.html, summary.json)")

    def _advice(self, summary: dict) -> None:
        """The run's findings (summary.json's ``advice``), one line each: what was seen → what to change."""
        advice = summary.get("advice") or []
        if advice:
            self.console.print(f"[bold]advice[/] ({len(advice)}; evidence in summary.json and report.html):")
        for f in advice:
            mark = {"error": "[red]error[/]", "warning": "[yellow]warning[/]"}.get(f["severity"], "info")
            self.console.print(f"  {mark} {escape(f['message'])} → {escape(f['action'])}", highlight=False)


def _console() -> Console:
    """A console; logs and pipes get 140 columns instead of rich's 80 so tables stay readable."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


class _SearchProgress:
    """Bars: trials of the study, and epochs of the trial running in this process — or, fed by
    ``running`` (``pipeline._running.watch_running``), one bar per trial running in a worker."""

    def __init__(self, progress: Progress, total: int, done: int, epochs: int, metric: str = "val_loss") -> None:
        self.progress, self.total_epochs, self.metric = progress, epochs, metric
        self.trials = progress.add_task("trials", total=total, completed=done, info="")
        self.epochs = progress.add_task("epochs", total=epochs, info="")
        self.workers: dict[int, Any] = {}  # trial number → its bar

    def on_epoch(self, record: dict) -> None:
        if record["epoch"] <= 1:
            self.progress.reset(self.epochs)
        self.progress.update(self.epochs, completed=record["epoch"],
                             info=f"val_loss {record.get('val_loss', float('nan')):.4f}")

    def running(self, rows: Sequence[Any]) -> None:
        """One bar per running trial (``TrialProgress`` rows); finished trials' bars go."""
        self.progress.update(self.epochs, visible=False)  # nothing trains in this process
        numbers = {r.number for r in rows}
        for number in [n for n in self.workers if n not in numbers]:
            self.progress.remove_task(self.workers.pop(number))
        for r in rows:
            info = "" if r.value is None else f"{self.metric} {r.value:.4f}"
            if r.number not in self.workers:
                self.workers[r.number] = self.progress.add_task(f"trial {r.number}", total=self.total_epochs, info="")
            self.progress.update(self.workers[r.number], completed=r.epoch, info=info)

    def on_trial(self, study: Any, trial: FrozenTrial) -> None:
        self.progress.update(self.trials, advance=1)

    def show_best(self, study: Any, trial: FrozenTrial) -> None:
        """The study's best value beside the trial count (once per batch of told trials)."""
        best = _best_value(study)
        self.progress.update(self.trials, info=f"best {best:.4f}" if best is not None else "")


def _best_value(study: Any) -> float | None:
    try:
        return study.best.value
    except TrialError:  # nothing complete yet
        return None


def trials_table(trials: Sequence[FrozenTrial], metric: str, direction: str, top: int = 8) -> Table:
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=(direction == "maximize"))
    counts = {s.value: sum(t.state is s for t in trials) for s in TrialState}
    table = Table(title=f"Search: {len(trials)} trials ({counts['complete']} complete, "
                        f"{counts['pruned']} pruned, {counts['failed']} failed) — top {min(top, len(done))}"
                        + ("; ap: an autopilot step" if any("autopilot" in t.attrs for t in done[:top]) else ""))
    params = sorted({k for t in done[:top] for k in t.config})
    for column in ["#", metric, "val acc", "epochs", *params]:
        table.add_column(column, justify="right")
    for t in done[:top]:
        table.add_row(str(t.number) + (" ap" if "autopilot" in t.attrs else ""), f"{t.value:.4f}", _fmt(t.attrs.get("val_accuracy")),
                      str(t.attrs.get("epochs_run", "")), *(_fmt(t.config.get(p)) for p in params))
    return table


def autopilot_table(autopilot: dict) -> Table:
    """One row per autopilot step: the problem, the change, the metric before → after, kept or not."""
    start, end = autopilot["start"], autopilot["end"]
    table = Table(title=f"Autopilot: {autopilot['metric']} {_fmt(start['value'])} (trial {start['trial']}) → "
                        f"{_fmt(end['value'])} (trial {end['trial']}); {autopilot['n_kept']} of "
                        f"{autopilot['n_steps']} changes kept; stopped: {autopilot['stopped']}")
    for column in ("step", "trial", "problem", "change", "before", "after", "gain ± se", "kept"):
        table.add_column(column, justify="right" if column in ("step", "trial") else "left")
    for s in autopilot["steps"]:
        gain = f"{s['gain']:+.3g} ± {s['se']:.2g}" if s.get("gain") is not None else "–"
        table.add_row(str(s["step"]), str(s["trial"]), s["code"], s["change"], _fmt(s["value_before"]),
                      _fmt(s["value_after"]), gain, s["outcome"])
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _short(measured: dict) -> str:
    parts = [f"{k}={_fmt(v)}" for k, v in measured.items() if isinstance(v, (int, float, str))]
    return ", ".join(parts[:4])
