"""Learning-curve overlays of compared runs: one figure per swept axis, train and validation loss per epoch."""

from __future__ import annotations

import re

from hpdesc.atomic import atomic_path
from hpdesc.experiments.comparison import Comparison, Row
from hpdesc.experiments.names import short_key
from hpdesc.experiments.runinfo import STAGES


def curve_groups(comp: Comparison) -> list[tuple[str, str, list[tuple[str, Row]]]]:
    """``[(axis key or "runs", title, [(line label, row), ...]), ...]``: one overlay per axis.

    Greedy sweeps: the runs of the axis' own step. Grids: the runs that differ from the best run
    in this axis only. Plain run directories: all runs in one figure.
    """
    runs = [r for r in comp.runs() if r.info is not None and r.info.history]
    groups = []
    axes = (comp.manifest or {}).get("axes", []) if comp.manifest else []
    if axes:
        greedy = (comp.manifest or {}).get("mode") == "greedy"
        ref = comp.best() or (runs[0] if runs else None)
        for a, ax in enumerate(axes):
            key = ax["key"]
            if greedy:
                members = [r for r in runs if r.step == a]
            else:
                others = {k: v for k, v in (ref.settings if ref else {}).items() if k != key}
                members = [r for r in runs if all(r.settings.get(k) == v for k, v in others.items())]
            if members:
                groups.append((key, f"{key}", [(r.settings.get(key, r.name), r) for r in members]))
        loose = [r for r in runs if r.step is None and not r.settings and r.path is not None
                 and not any(r in g[2] for g in groups)]
    else:
        loose = runs
    if loose:
        label = lambda r: ", ".join(f"{short_key(k)}={v}" for k, v in r.settings.items()) or r.name  # noqa: E731
        groups.append(("runs", "runs", [(label(r), r) for r in loose]))
    return groups


def plot_overlay(path, title: str, lines: list[tuple[str, Row]], ylabel: dict | None = None) -> None:
    """Train (solid) and validation (dashed) loss per epoch, one colour per value; one panel per stage."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    stages = [s for s in STAGES if any(s in r.info.history for _, r in lines)]
    if len(stages) > 1 and len(lines) > 1:
        # a panel where every line is the same run history (e.g. the denoiser of a descriptor
        # axis) says nothing: leave it out
        def losses(r, s):
            return repr([(x.get("loss"), x.get("val_loss")) for x in r.info.history.get(s) or []])

        varied = [s for s in stages if len({losses(r, s) for _, r in lines}) > 1]
        stages = varied or stages
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(stages), figsize=(max(6.4, 5.2 * len(stages)), 3.8), dpi=90, squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for k, (label, r) in enumerate(lines):
            rows = r.info.history.get(stage) or []
            if not rows:
                continue
            ep = [x["epoch"] for x in rows]
            color = f"C{k % 10}"
            ax.plot(ep, [x.get("loss") for x in rows], "-", color=color, marker="o", ms=3)
            if any(x.get("val_loss") is not None for x in rows):
                ax.plot(ep, [x.get("val_loss") for x in rows], "--", color=color, marker="s", ms=3)
        vals = [v for _, r in lines for x in (r.info.history.get(stage) or []) for v in (x.get("loss"), x.get("val_loss"))
                if v is not None and v > 0]
        if vals and max(vals) / min(vals) > 20:  # one diverging value would flatten the others
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        loss_name = (ylabel or {}).get(stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"loss ({loss_name})" if loss_name else "loss")
        ax.set_title(f"{stage}")
        ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color=f"C{k % 10}", lw=2, label=str(label)) for k, (label, _) in enumerate(lines)]
        handles += [Line2D([], [], color="k", ls="-", label="train"), Line2D([], [], color="k", ls="--", label="validation")]
        ax.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def loss_names(rows: list[Row]) -> dict:
    """The loss of each stage for the y label, when all ``rows`` share it."""
    out = {}
    for stage in STAGES:
        names = {json_key(r.info.config.get(f"{stage}_loss")) for r in rows if r.info and r.info.config}
        if len(names) == 1:
            only = next(iter(names))
            out[stage] = only if only != "null" else None
    return out


def json_key(comp) -> str:
    """A component table as one text (``hardnet margin=1.0``); ``"null"`` for none."""
    if not isinstance(comp, dict):
        return "null"
    rest = ", ".join(f"{k}={v}" for k, v in comp.items() if k != "name")
    return f"{comp.get('name')}" + (f" {rest}" if rest else "")


def file_name(key: str) -> str:
    """The PNG file name of the overlay for ``key`` (an axis, or ``"runs"``)."""
    return "curves_" + re.sub(r"[^A-Za-z0-9._-]+", "_", short_key(key) if key != "runs" else "runs") + ".png"


__all__ = ["curve_groups", "plot_overlay", "loss_names", "file_name"]
