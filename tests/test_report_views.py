"""The view seam: producers' views in order, a failing producer becomes one error view."""

from knobs.report._views import RunRecord, View, collect_views


def test_views_in_producer_order_and_a_failure_is_one_view():
    run = RunRecord(summary={"name": "r"}, trials=())

    def first(run):
        return [View(key="a", title="A", section="search", figure={"data": [], "layout": {}})]

    def broken(run):
        raise ValueError("no curve")

    def last(run):
        yield View(key="b", title="B", section="test", html="<p>b</p>")

    views = collect_views(run, [first, broken, last])
    assert [v.key for v in views][0] == "a" and views[-1].key == "b"
    assert views[1].key.startswith("error:") and "no curve" in views[1].html and "ValueError" in views[1].html
    assert views[0].to_json()["figure"] == {"data": [], "layout": {}}


def test_run_views_of_a_finished_run_and_of_one_just_started():
    from knobs.report import RunRecord, run_views
    from knobs.trial import FrozenTrial, TrialState

    trials = [FrozenTrial(number=i, config={"lr": 10.0 ** -i}, state=TrialState.COMPLETE, value=1.0 / (i + 1),
                          intermediate={1: 1.5, 2: 1.0 / (i + 1)},
                          attrs={"curve": {"epoch": [1, 2], "train_loss": [2.0, 1.0], "val_loss": [1.5, 1.0 / (i + 1)],
                                           "val_accuracy": [0.5, 0.6], "lr": [0.1, 0.1]}}) for i in range(3)]
    summary = {"best_trial": {"number": 2, "metric": "val_loss", "best_epoch": 2},
               "search": {"direction": "minimize", "space": {"lr": {"type": "float", "low": 1e-3, "high": 1, "log": True}}},
               "test": {"confusion_matrix": [[3, 1], [0, 4]]}}
    keys = [v.key for v in run_views(RunRecord(summary=summary, trials=trials))]
    assert keys == ["headline", "findings", "history", "best_trial", "slice:lr", "trials", "best_curves", "curves",
                    "confusion"]
    assert run_views(RunRecord(summary={}, trials=())) == []


def test_skipped_views_are_not_even_computed(monkeypatch):
    from knobs.report import RunRecord, _figures, run_views
    from knobs.trial import FrozenTrial, TrialState

    def expensive(*args, **kwargs):
        raise AssertionError("the skipped history was drawn")

    monkeypatch.setattr(_figures, "search_history", expensive)
    trials = [FrozenTrial(number=0, config={"lr": 0.1}, state=TrialState.COMPLETE, value=0.5)]
    summary = {"best_trial": {"number": 0, "metric": "val_loss"}, "search": {"direction": "minimize"}}
    keys = [v.key for v in run_views(RunRecord(summary=summary, trials=trials), skip={"history", "trials"})]
    assert "history" not in keys and "trials" not in keys and not any(k.startswith("error:") for k in keys)


def test_the_headline_counts_pruned_and_failed_trials_from_the_trials_when_the_summary_has_no_states():
    from knobs.report import RunRecord, run_views
    from knobs.trial import FrozenTrial, TrialState

    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED, TrialState.FAILED, TrialState.RUNNING]
    trials = [FrozenTrial(number=i, config={"lr": 0.1}, state=s, value=0.5 if s is TrialState.COMPLETE else None)
              for i, s in enumerate(states)]
    summary = {"best_trial": {"number": 0, "metric": "val_loss", "value": 0.5}, "search": {"direction": "minimize"}}
    headline = next(v for v in run_views(RunRecord(summary=summary, trials=trials)) if v.key == "headline")
    assert "5 <small>(2 pruned, 1 failed)</small>" in headline.html
    with_states = {**summary, "n_trials": 5, "states": {"complete": 1, "pruned": 3, "failed": 0, "running": 1}}
    headline = next(v for v in run_views(RunRecord(summary=with_states, trials=trials)) if v.key == "headline")
    assert "5 <small>(3 pruned, 0 failed)</small>" in headline.html  # the summary's own count wins
