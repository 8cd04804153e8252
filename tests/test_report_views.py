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
