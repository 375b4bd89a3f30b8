"""`asktell study plot`: a study's optimisation history, parameter importance and curves.

Matplotlib draws one figure with three panels (and, for a study with several
objectives, a second row with the Pareto front: one panel for 2 objectives, one
per pair of the first three for more; feasible and infeasible trials drawn
apart); `.png` writes it as an image, `.html` as a self-contained page (inline
SVG plus a table of the best trials).
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from asktell.client._models import StudyInfo, Trial
from asktell.v1.spec import is_feasible, objectives_of


def parameter_importance(info: StudyInfo, trials: list[Trial]) -> dict[str, float]:
    """Share of the objective's variance each parameter explains (random-forest importances).

    Numeric parameters enter on their own scale (log parameters as logs);
    categoricals as their value's index. A conditional parameter, where it is
    inactive, enters as a value outside its range (-1 for a categorical, one
    range below the minimum for a number), so the forest can split on "inactive".
    Needs a few COMPLETE trials.
    """
    from sklearn.ensemble import RandomForestRegressor

    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    # A fixed parameter has one value: it explains nothing (and may be a string).
    names = [n for n, p in info.spec["parameters"].items() if p["type"] != "fixed"]
    if len(done) < 4 or not names:
        return {}
    columns: list[list[float]] = []
    for name in names:
        spec = info.spec["parameters"][name]
        values = [t.params.get(name) for t in done]
        if spec["type"] == "categorical":
            columns.append([float(_typed_index(spec["values"], v)) for v in values])
            continue
        log = spec.get("scale") == "log"
        numbers = [float(np.log(v) if log else v) for v in values if v is not None]
        if not numbers:
            columns.append([0.0] * len(values))
            continue
        inactive = min(numbers) - (max(numbers) - min(numbers) or 1.0)
        columns.append([inactive if v is None else float(np.log(v) if log else v) for v in values])
    X = np.asarray(columns, dtype=float).T
    y = np.asarray([t.value for t in done], dtype=float)
    forest = RandomForestRegressor(n_estimators=200, random_state=0, min_samples_leaf=2)
    forest.fit(X, y)
    return dict(zip(names, (float(v) for v in forest.feature_importances_), strict=True))


def _typed_index(values: list[Any], value: Any) -> int:
    """The position of `value` among a categorical's values, typed (1 is not True); -1 if absent."""
    for position, listed in enumerate(values):
        if type(listed) is type(value) and listed == value:
            return position
    return -1


def _figure(info: StudyInfo, trials: list[Trial], front: list[Trial] | None = None) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    objectives = objectives_of(info.spec)
    maximize = objectives[0]["goal"] == "maximize"
    metric = objectives[0]["metric"]
    if len(objectives) > 1:
        figure, axes = plt.subplots(2, 3, figsize=(16, 9))
        history, importance, curves = axes[0]
        _pareto_panels(info, trials, front or [], list(axes[1]))
    else:
        figure, (history, importance, curves) = plt.subplots(1, 3, figsize=(16, 4.5))
    figure.suptitle(
        f"study {info.id}: " + ", ".join(f"{o['goal']} {o['metric']}" for o in objectives)
    )

    done = [
        t
        for t in trials
        if t.state == "COMPLETE" and t.value is not None and is_feasible(info.spec, t.values)
    ]
    infeasible = [
        t
        for t in trials
        if t.state == "COMPLETE" and t.value is not None and not is_feasible(info.spec, t.values)
    ]
    if infeasible:
        history.scatter(
            [t.number for t in infeasible],
            [t.value for t in infeasible],
            s=14,
            marker="x",
            color="tab:gray",
            label="infeasible",
        )
    if done:
        numbers = [t.number for t in done]
        values = np.asarray([t.value for t in done], dtype=float)
        best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
        history.scatter(numbers, values, s=14, alpha=0.7, label="trial value")
        history.step(numbers, best, where="post", color="tab:red", label="best so far")
        history.legend(loc="best")
    elif not infeasible:
        history.text(0.5, 0.5, "no COMPLETE trial yet", ha="center", transform=history.transAxes)
    history.set(title="Optimisation history", xlabel="trial", ylabel=metric)

    shares = parameter_importance(info, trials)
    if shares:
        ordered = sorted(shares.items(), key=lambda item: item[1])
        importance.barh([n for n, _ in ordered], [v for _, v in ordered], color="tab:green")
    else:
        importance.text(
            0.5, 0.5, "needs 4 COMPLETE trials", ha="center", transform=importance.transAxes
        )
    importance.set(title="Parameter importance", xlabel="share of explained variance")

    colours = {
        "COMPLETE": "tab:blue",
        "PRUNED": "tab:orange",
        "FAILED": "tab:gray",
        "RUNNING": "tab:purple",
    }
    drawn = False
    for trial in trials:
        if trial.measurements:
            steps, reported = zip(*trial.measurements, strict=True)
            curves.plot(steps, reported, color=colours.get(trial.state, "black"), alpha=0.5, lw=1)
            drawn = True
    if not drawn:
        curves.text(0.5, 0.5, "no intermediate reports", ha="center", transform=curves.transAxes)
    curves.set(title="Intermediate values (colour: final state)", xlabel="step", ylabel=metric)
    figure.tight_layout()
    return figure


def _pareto_panels(
    info: StudyInfo, trials: list[Trial], front: list[Trial], axes: list[Any]
) -> None:
    """The Pareto front, pairwise: feasible trials, infeasible ones (x) and the front (red)."""
    metrics = [o["metric"] for o in objectives_of(info.spec)][:3]
    pairs = [(0, 1)] if len(metrics) == 2 else [(0, 1), (0, 2), (1, 2)]
    done = [t for t in trials if t.state == "COMPLETE" and all(m in t.values for m in metrics)]
    on_front = {t.number for t in front}
    groups = [
        ("feasible", "tab:blue", "o", [t for t in done if is_feasible(info.spec, t.values)]),
        ("infeasible", "tab:gray", "x", [t for t in done if not is_feasible(info.spec, t.values)]),
        ("Pareto front", "tab:red", "o", [t for t in done if t.number in on_front]),
    ]
    for panel, (i, j) in zip(axes, pairs, strict=False):
        for label, colour, marker, group in groups:
            if group:
                panel.scatter(
                    [t.values[metrics[i]] for t in group],
                    [t.values[metrics[j]] for t in group],
                    s=18,
                    alpha=0.8,
                    color=colour,
                    marker=marker,
                    label=label,
                )
        if not done:
            panel.text(0.5, 0.5, "no COMPLETE trial yet", ha="center", transform=panel.transAxes)
        else:
            panel.legend(loc="best")
        panel.set(title="Pareto front", xlabel=metrics[i], ylabel=metrics[j])
    for panel in axes[len(pairs) :]:
        panel.set_visible(False)


def write_plot(info: StudyInfo, trials: list[Trial], best: list[Trial], out: Path) -> None:
    """Writes the study's plots to `out` (.png or .html).

    Raises:
        ValueError: another file extension.
    """
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        raise ValueError(f"{out}: write a .png or an .html file")
    figure = _figure(info, trials, best)
    if suffix == ".png":
        figure.savefig(out, dpi=110)
        return
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    rows = "".join(
        f"<tr><td>{t.number}</td><td>{t.value:.6g}</td><td>"
        + html.escape(", ".join(f"{k}={v:.6g}" for k, v in t.values.items()))
        + "</td><td>"
        + html.escape(", ".join(f"{k}={v}" for k, v in t.params.items()))
        + "</td></tr>"
        for t in best
        if t.value is not None
    )
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>asktell study {html.escape(info.id)}</title></head><body>"
        f"<h1>study {html.escape(info.id)}</h1>{buffer.getvalue()}"
        "<h2>Best trials</h2><table border='1' cellpadding='4'>"
        "<tr><th>#</th><th>value</th><th>metrics</th><th>params</th></tr>"
        f"{rows}</table></body></html>"
    )
