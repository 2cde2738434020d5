"""The HTML report: one run's figures and tables in one self-contained page, and runs side by side.

``write_report(run_dir)`` reads ``run_dir/results.json`` (as ``harness.results_doc``'s
typed values) and the CSV time series it lists under ``series`` (``harness.series``)
and writes ``run_dir/report.html``: connections over time per process group,
stacked, one figure per server the document lists (in its order), with the
capacity and the predicted expected and worst case as steps, refusals per second
and a marker at every event; requests and errors per second by kind; latency
percentiles; then the predicted-vs-observed table, the verdict and its notes, the
errors, the events, the plan that ran and the versions. A series file that is
missing is named on the page and its figure left empty, never fatal.
``write_comparison(run_dirs, out)`` puts two or more runs in columns, on one
time axis and one connections scale per server.

The page opens offline: plotly.js is inline, once. When Plotly has drawn every
figure, a script reads back what it drew (each graph div's ``_fullData``: trace
names, point counts, x and y) as JSON into the hidden ``<pre id="connlab-rendered">``
and sets ``<body data-rendered="yes">`` ("failed" when a figure could not be
drawn). Tests read both from a headless browser's DOM.
"""

from __future__ import annotations

import csv
import html
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs

from harness.errors import PlanError
from harness.results_doc import Resource, Results, read_results
from harness.versions import describe

COLUMNS = {
    "connections": ("t", "resource", "group", "connections", "method"),
    "refusals": ("t", "resource"),
    "requests": ("second", "endpoint", "outcome", "kind", "error_class", "count"),
    "latency": ("second", "requests", "p50_ms", "p95_ms", "p99_ms", "max_ms"),
    "events": ("t", "what"),
    "predicted": ("t", "resource", "expected", "worst_case", "capacity"),
}
KIND_COLOURS = {"ok": "#2ca02c", "server_full": "#d62728", "pool_timeout": "#ff7f0e", "redis_full": "#9467bd",
                "connection_lost": "#8c564b", "other": "#7f7f7f"}
PALETTE = ("#4c78a8", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#f58518",
           "#e45756", "#79706e", "#86bcb6")
Row = dict[str, str]
Span = tuple[float, float]


@dataclass
class Run:
    """A saved run: its results.json, the rows of each series file read, and what could not be read."""

    path: Path
    results: Results
    series: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def rows(self, name: str, **match: str) -> list[Row]:
        return [r for r in self.series.get(name, []) if all(r.get(k) == v for k, v in match.items())]

    def span(self) -> Span:
        """The time axis: from the earliest t (0 at the latest) to the end of the last row."""
        times = [0.0] + [float(r["t"]) for n in ("connections", "refusals", "events", "predicted")
                         for r in self.series.get(n, [])]
        times += [float(r["second"]) + 1 for n in ("requests", "latency") for r in self.series.get(n, [])]
        return min(times), (max(times) if max(times) > 0 else float(self.results.duration_s or 1))


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _read_csv(path: Path, columns: Sequence[str], problems: list[str]) -> list[Row]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                problems.append(f"{path.name} has no column {', '.join(missing)}: not drawn")
                return []
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name} could not be read ({getattr(exc, 'strerror', None) or exc}): not drawn")
        return []
    good = [r for r in rows if _num(r[columns[0]]) is not None]
    if len(good) < len(rows):
        problems.append(f"{path.name}: {len(rows) - len(good)} rows without a number in {columns[0]} left out")
    return good


def load_run(run_dir: Path) -> Run:
    """Read a run folder; a ``PlanError`` (one line) when it holds no connlab results.json, or one that is not
    what the contract says."""
    path = run_dir / "results.json"
    if not path.is_file():
        raise PlanError([f"{run_dir}: no results.json here (a run folder is runs/<scenario>-<timestamp>/)"])
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError([f"{path}: not readable as JSON ({exc})"]) from exc
    run = Run(run_dir, read_results(doc, path))
    listed = run.results.series
    if listed is None:
        run.problems.append("results.json lists no time series (a run from before connlab wrote them): "
                            "no figures, the tables only")
        return run
    for name, columns in COLUMNS.items():
        if isinstance(listed.get(name), str):
            run.series[name] = _read_csv(run_dir / listed[name], columns, run.problems)
        else:
            run.problems.append(f"results.json lists no {name} series: not drawn")
    return run


def _group_key(group: str) -> tuple[int, str, int]:
    prefix, _, number = group.partition(".")
    return ({"web": 0, "worker": 1}.get(prefix, 2), prefix, int(number) if number.isdigit() else 0)


def _stacked(rows: list[Row], end: float) -> dict[str, tuple[list[float], list[float]]]:
    """Each group's count at every change of any group (a count holds until its group's next row), then at ``end``.

    Plotly stacks traces point by point, so every group needs a value at every x."""
    changes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        changes[r["group"]].append((float(r["t"]), _num(r["connections"]) or 0.0))
    times = sorted({t for points in changes.values() for t, _ in points})
    xs = times + ([end] if times and end > times[-1] else [])
    out = {}
    for group in sorted(changes, key=_group_key):
        points = sorted(changes[group], key=lambda p: p[0])  # stable: the file's last row at a t wins
        ys, i, value = [], 0, 0.0
        for t in xs:
            while i < len(points) and points[i][0] <= t:
                value, i = points[i][1], i + 1
            ys.append(value)
        out[group] = (xs, ys)
    return out


def _steps(rows: list[Row], key: str, span: Span) -> tuple[list[float], list[float | None]]:
    """A step function from ``rows`` over the whole axis: its first value back to the start, its last to the end."""
    points = sorted(((float(r["t"]), _num(r[key])) for r in rows), key=lambda p: p[0])
    if not points:
        return [], []
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    xs[0] = min(xs[0], span[0])
    return xs + [max(span[1], xs[-1])], ys + [ys[-1]]


def _per_second(times: Iterable[float]) -> tuple[list[float], list[int]]:
    counts: dict[int, int] = defaultdict(int)
    for t in times:
        counts[int(t // 1)] += 1
    return [s + 0.5 for s in sorted(counts)], [counts[s] for s in sorted(counts)]


def _y_top(run: Run, resource: Resource, span: Span) -> float:
    """Room for the stack, the capacity and both predictions."""
    name = resource.name
    stack = [ys for _, ys in _stacked(run.rows("connections", resource=name, method="exact"), span[1]).values()]
    tops: list[float] = [sum(column) for column in zip(*stack, strict=True)]
    tops += [_num(r[k]) or 0 for r in run.rows("predicted", resource=name) for k in ("expected", "worst_case",
                                                                                    "capacity")]
    tops += [float(resource.capacity), 1.0]
    return max(tops) * 1.12


def _layout(title: str, span: Span, events: list[Row], height: int, **extra: Any) -> dict[str, Any]:
    shapes = [{"type": "line", "x0": float(e["t"]), "x1": float(e["t"]), "yref": "paper", "y0": 0, "y1": 1,
               "line": {"color": "#888", "width": 1, "dash": "dot"}} for e in events]
    return {"title": {"text": title, "x": 0.01}, "height": height, "template": "plotly_white", "shapes": shapes,
            "margin": {"l": 60, "r": 60, "t": 50, "b": 40}, "hovermode": "closest",
            "legend": {"orientation": "h", "yanchor": "top", "y": -0.16},
            "xaxis": {"range": list(span), "title": {"text": "seconds since traffic start"}, "zeroline": False},
            **extra}


def connections_figure(run: Run, resource: Resource, span: Span, y_top: float, colours: dict[str, str],
                       height: int = 480) -> go.Figure:
    name, capacity = resource.name, resource.capacity
    fig = go.Figure()
    stacked = _stacked(run.rows("connections", resource=name, method="exact"), span[1])
    for group, (xs, ys) in stacked.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, name=group, meta="group", stackgroup="groups", mode="lines",
                                 line={"shape": "hv", "width": 0.5, "color": colours.get(group)},
                                 hovertemplate=f"{group}: %{{y}} at t=%{{x:.2f}} s<extra></extra>"))
    sampled: dict[float, float] = defaultdict(float)
    for r in run.rows("connections", resource=name, method="sampled"):
        sampled[float(r["t"])] += _num(r["connections"]) or 0.0
    if sampled:
        fig.add_trace(go.Scatter(x=sorted(sampled), y=[sampled[t] for t in sorted(sampled)], meta="sampled",
                                 name="sampled total", mode="lines",
                                 line={"shape": "hv", "color": "#555", "dash": "dot", "width": 1}))
    predicted = run.rows("predicted", resource=name)
    for key, label, line in (("capacity", "capacity", {"color": "black", "width": 2.5}),
                             ("expected", "predicted expected", {"color": "#1f77b4", "width": 2, "dash": "dash"}),
                             ("worst_case", "predicted worst case", {"color": "#d62728", "width": 2, "dash": "dot"})):
        sx, sy = _steps(predicted, key, span)
        if not sx and key == "capacity":  # no predicted.csv: the capacity still holds
            sx, sy = list(span), [float(capacity)] * 2
        if sx:
            fig.add_trace(go.Scatter(x=sx, y=sy, name=label, meta=key, mode="lines", line={"shape": "hv", **line}))
    refused_x, refused_y = _per_second(float(r["t"]) for r in run.rows("refusals", resource=name))
    fig.add_trace(go.Bar(x=refused_x, y=refused_y, name="refused per second", meta="refusals", yaxis="y2", width=0.9,
                         marker={"color": "#d62728"}, hovertemplate="%{y} refused in second %{x:.0f}<extra></extra>"))
    events = run.rows("events")
    if events:  # numbered as in the events table; the text on hover
        fig.add_trace(go.Scatter(x=[float(e["t"]) for e in events], y=[y_top * 0.93] * len(events), name="events",
                                 meta="events", mode="markers+text", text=[str(i) for i in range(1, len(events) + 1)],
                                 textposition="top center", cliponaxis=False, hoverinfo="text",
                                 hovertext=[f"{i}. t={float(e['t']):.2f} s: {e['what']}" for i, e in
                                            enumerate(events, start=1)],
                                 marker={"symbol": "triangle-down", "size": 9, "color": "#444"}))
    title = f"{name.capitalize()} connections per process group (capacity {capacity})"
    top_refused = max(refused_y, default=0)
    layout = _layout(title, span, events, height, legend={"orientation": "h", "yanchor": "top", "y": -0.16,
                                                                    "traceorder": "normal"},
                     xaxis={"range": list(span), "title": {"text": "seconds since traffic start"}, "zeroline": False,
                            "anchor": "y2"},
                     yaxis={"title": {"text": "connections"}, "range": [0, y_top], "domain": [0.3, 1]},
                     yaxis2={"title": {"text": "refused / s"}, "domain": [0, 0.2], "anchor": "x",
                             "range": [0, max(top_refused * 1.1, 1)], "dtick": max(1, -(-top_refused // 3))})
    if "connections" in run.series and not stacked:
        layout["annotations"] = [{"text": f"no exact connection rows for {name}", "showarrow": False,
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.65}]
    fig.update_layout(layout)
    return fig


def requests_figure(run: Run, span: Span, height: int = 380) -> go.Figure:
    counts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    detail: dict[tuple[str, int], list[str]] = defaultdict(list)
    for r in run.rows("requests"):
        key, second, n = (r["kind"] or "other") if r["outcome"] == "failed" else "ok", int(float(r["second"])), _num(
            r["count"]) or 0.0
        counts[key][second] += n
        detail[key, second].append(f"{n:g} {r['endpoint']}" + (f" {r['error_class']}" if r["error_class"] else ""))
    fig = go.Figure()
    for key in sorted(counts, key=lambda k: list(KIND_COLOURS).index(k) if k in KIND_COLOURS else 99):
        seconds = sorted(counts[key])
        fig.add_trace(go.Bar(x=[s + 0.5 for s in seconds], y=[counts[key][s] for s in seconds], meta=key,
                             name=f"{key} per second", marker={"color": KIND_COLOURS.get(key, "#7f7f7f")},
                             hovertext=["<br>".join(detail[key, s]) for s in seconds],
                             hovertemplate="%{y} " + key + " in second %{x:.0f}<br>%{hovertext}<extra></extra>"))
    fig.update_layout(_layout("Requests per second: ok and failed, by error kind", span, run.rows("events"), height,
                              barmode="stack", bargap=0.1, yaxis={"title": {"text": "requests / s"}}))
    return fig


def latency_figure(run: Run, span: Span, height: int = 340) -> go.Figure:
    rows = sorted(run.rows("latency"), key=lambda r: float(r["second"]))
    fig = go.Figure()
    for key, colour in (("p50_ms", "#54a24b"), ("p95_ms", "#f58518"), ("p99_ms", "#e45756"), ("max_ms", "#888")):
        fig.add_trace(go.Scatter(x=[float(r["second"]) + 0.5 for r in rows], y=[_num(r[key]) for r in rows],
                                 name=key.removesuffix("_ms"), meta="latency", mode="lines+markers",
                                 line={"color": colour}, marker={"size": 4}))
    values = [_num(r[k]) or 0.0 for r in rows for k in ("p50_ms", "max_ms")]
    log = bool(values) and min(values) > 0 and max(values) / min(values) >= 50  # 20 ms beside 5 s timeouts
    fig.update_layout(_layout("Latency per second (ms)", span, run.rows("events"), height,
                              yaxis={"title": {"text": "ms"}, **({"type": "log", "dtick": 1} if log else {})}))
    return fig


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], dim: Iterable[bool] = ()) -> str:
    dims = list(dim)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(f"<tr{' class=dim' if i < len(dims) and dims[i] else ''}>"
                   + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _observed_table(results: Results) -> str:
    rows: list[list[object]] = []
    dim = []
    for r in results.resources:
        p, final = r.predicted, r.predicted.final
        expected = f"{p.expected} → {final.expected}" if final else p.expected
        worst = f"{p.worst_case} → {final.worst_case}" if final else p.worst_case
        o = r.observed
        rows.append([r.name, r.capacity, expected, worst, f"{o.peak} ({o.peak_method})", o.rejected,
                     r.exhaustion.predicted, "yes" if r.exhaustion.observed else "no"])
        dim.append(False)
        for g in r.groups:
            rows.append([f"  {g.group}", "", g.predicted_expected, g.predicted_worst_case, g.observed_peak, "", "", ""])
            dim.append(True)
    return _table(("resource / group", "capacity", "expected", "worst case", "observed peak", "rejected",
                   "predicted", "exhausted"), rows, dim)


def _verdict(results: Results) -> str:
    v = results.verdict
    parts = [("prediction held" if v.prediction_held else "prediction did not hold", v.prediction_held),
             ("configuration fits" if v.config_fits else "configuration does not fit", v.config_fits)]
    if v.expectations_met is not None:
        parts.append(("expectations met" if v.expectations_met else "expectations not met", v.expectations_met))
    line = " · ".join(f"<span class={'good' if ok else 'bad'}>{html.escape(text)}</span>" for text, ok in parts)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in v.notes)
    req = results.requests
    return (f"<p class=verdict>{line}</p><p>requests: {req.total} total, {req.failed} failed</p>"
            + (f"<ul class=notes>{notes}</ul>" if notes else ""))


def _header(run: Run, level: str = "h1") -> str:
    d = run.results
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in run.problems)
    return (f"<{level}>{html.escape(d.scenario)}: {html.escape(d.app)} on "
            f"{html.escape(d.backend)}</{level}><p class=dim>{html.escape(str(run.path))}<br>"
            f"ran {html.escape(describe(d.versions) or 'unknown versions')}</p>"
            + _verdict(d) + (f"<div class=problems><b>Not drawn</b><ul>{problems}</ul></div>" if problems else ""))


def _details(run: Run) -> str:
    d = run.results
    errors = _table(("class", "kind", "count", "rate", "first at (s)", "example"),
                    [[e.error_class, e.kind, e.count, f"{e.rate or 0:.1%}", "" if e.first_s is None else e.first_s,
                      e.example or ""] for e in d.errors]) if d.errors else "<p>none</p>"
    listed = [(float(r["t"]), r["what"]) for r in run.rows("events")] or [(e.t, e.what) for e in d.events]
    events = _table(("#", "t (s)", "what"), [[i, f"{t:.2f}", what] for i, (t, what) in enumerate(listed, start=1)])
    plan_html = (f"<pre>{html.escape(yaml.safe_dump(d.plan, sort_keys=False))}</pre>" if d.plan is not None else
                 "<p>results.json does not record the plan (a run from before connlab did).</p>")
    versions = _table(("component", "version"), [["backend", d.backend], *sorted(d.versions.items())])
    return (f"<h2>Predicted vs observed</h2>{_observed_table(d)}<h2>Errors</h2>{errors}<h2>Events</h2>{events}"
            f"<h2>The plan that ran</h2><p>scenario {html.escape(d.scenario)}, app "
            f"{html.escape(d.app)}, backend {html.escape(d.backend)}</p>{plan_html}"
            f"<h2>Versions</h2>{versions}")


def _colours(runs: Sequence[Run]) -> dict[str, str]:
    groups = sorted({r["group"] for run in runs for r in run.rows("connections")}, key=_group_key)
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


_STYLE = """body{font-family:system-ui,sans-serif;margin:16px 24px;color:#222}table{border-collapse:collapse;
font-size:14px;margin:6px 0}td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:right}td:first-child,
th:first-child{text-align:left;white-space:pre}tr.dim{color:#777}.dim{color:#777}.good{color:#1a7f37;font-weight:600}
.bad{color:#c62828;font-weight:600}.verdict{font-size:18px}.problems{background:#fff4e5;padding:4px 12px}
pre{background:#f6f6f6;padding:8px}.columns{display:grid;gap:16px}.columns>div{min-width:0}"""

_SCRIPT = """(function () {
  const pre = document.getElementById("connlab-rendered");
  const figures = JSON.parse(document.getElementById("connlab-figures").textContent);
  const list = (a) => (a ? Array.from(a) : []);
  Promise.resolve()  // a throw (no Plotly, no such div) lands in catch too
    .then(() => Promise.all(figures.map((f) => Plotly.newPlot(f.id, f.figure.data, f.figure.layout,
                                                                {displaylogo: false, responsive: true}))))
    .then((divs) => {
      const summary = divs.map((gd) => ({
        id: gd.id, x_range: list(gd._fullLayout.xaxis.range), y_range: list(gd._fullLayout.yaxis.range),
        drawn: gd.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length,
        traces: gd._fullData.map((t) => ({name: t.name, meta: t.meta, type: t.type, points: list(t.x).length,
                                          x: list(t.x), y: list(t.y)})),
      }));
      pre.textContent = JSON.stringify({figures: summary});
      document.body.setAttribute("data-rendered", "yes");
    })
    .catch((err) => {
      pre.textContent = JSON.stringify({error: String(err)});
      document.body.setAttribute("data-rendered", "failed");
    });
})();"""


def _page(title: str, body: str, figures: list[tuple[str, go.Figure]]) -> str:
    payload = "[" + ",".join(f'{{"id":{json.dumps(i)},"figure":{f.to_json()}}}' for i, f in figures) + "]"
    payload = payload.replace("</", "<\\/")  # "</script>" in an event's text must not end the element
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}<pre id=connlab-rendered hidden></pre>"
            f"<script>{get_plotlyjs()}</script>"
            f'<script type="application/json" id="connlab-figures">{payload}</script>'
            f"<script>{_SCRIPT}</script></body></html>\n")


def _div(figure_id: str) -> str:
    return f'<div id="{html.escape(figure_id)}" class=figure></div>'


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write ``run_dir/report.html`` (or ``out``) for a saved run; return its path."""
    run = load_run(run_dir)
    span, colours, figures = run.span(), _colours([run]), []
    if run.series:
        figures = [(f"connections-{r.name}", connections_figure(run, r, span, _y_top(run, r, span), colours))
                   for r in run.results.resources]
        figures += [("requests", requests_figure(run, span)), ("latency", latency_figure(run, span))]
    body = _header(run) + "".join(_div(i) for i, _ in figures) + _details(run)
    path = out or run_dir / "report.html"
    path.write_text(_page(f"connlab: {run.results.scenario}", body, figures), encoding="utf-8")
    return path


def write_comparison(run_dirs: list[Path], out: Path) -> Path:
    """Write ``out``: the runs in columns, each its connections and requests figures and its key figures; a
    server's figures share one connections scale across the runs that list it."""
    runs = [load_run(d) for d in run_dirs]
    spans = [run.span() for run in runs]
    span = (min(s[0] for s in spans), max(s[1] for s in spans))
    colours = _colours(runs)
    tops: dict[str, float] = {}
    for run in runs:
        for r in run.results.resources:
            tops[r.name] = max(tops.get(r.name, 0.0), _y_top(run, r, span))
    figures: list[tuple[str, go.Figure]] = []
    columns = []
    for i, run in enumerate(runs, start=1):
        mine: list[tuple[str, go.Figure]] = []
        if run.series:
            mine = [(f"run{i}-connections-{r.name}", connections_figure(run, r, span, tops[r.name], colours, 400))
                    for r in run.results.resources]
            mine.append((f"run{i}-requests", requests_figure(run, span, 320)))
        figures += mine
        columns.append(f"<div>{_header(run, 'h2')}{_observed_table(run.results)}"
                       + "".join(_div(fid) for fid, _ in mine) + "</div>")
    names = " vs ".join(run.results.scenario for run in runs)
    body = (f"<h1>connlab: {html.escape(names)}</h1><div class=columns style='grid-template-columns:"
            f"repeat({len(runs)},minmax(0,1fr))'>{''.join(columns)}</div>")
    out.write_text(_page(f"connlab: {names}", body, figures), encoding="utf-8")
    return out
