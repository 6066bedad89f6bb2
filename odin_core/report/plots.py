"""Report plots: the loss and accuracy curves during training, per-task accuracy with interval whiskers. matplotlib is imported inside."""

from __future__ import annotations

from pathlib import Path

from odin_core.foundation.records import task_accuracy
from odin_core.report.tables import get, stage_label


def plot_loss(records: list[dict], path: Path, reference: float | None = None) -> bool:
    """Training (and evaluation) loss against step as a PNG; False when no loss was logged. ``reference``: the
    loss of the model that knows only each task's answer distribution, drawn as a dashed line (a plateau there
    means nothing beyond it was learned)."""
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float)) and "step" in r]
    evals = [(r["step"], r["eval_loss"]) for r in records
             if isinstance(r.get("eval_loss"), (int, float)) and "step" in r]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="training loss")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation loss")
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label=f"answer distribution only ({reference:.3f})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_rl(records: list[dict], path: Path) -> bool:
    """The RL stage's mean reward, KL and completion length against step (``rl_metrics.jsonl``) as a PNG; False
    when nothing was logged."""
    series = [(key, [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r])
              for key in ("reward", "kl", "completion_length")]
    series = [(key, points) for key, points in series if points]
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.5), squeeze=False)
    for ax, (key, points) in zip(axes[0], series):
        ax.plot(*zip(*points), marker="." if len(points) < 40 else None)
        ax.set_xlabel("RL step")
        ax.set_title({"reward": "mean reward", "kl": "KL to the start", "completion_length": "completion length"}[key])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_training_accuracy(records: list[dict], path: Path, best_step: int | None = None) -> bool:
    """Validation task accuracy measured during training (overall, macro, per family) against step as a PNG;
    False when none was logged (``training.eval_accuracy_examples`` off). ``best_step``: marked when given."""
    points = [r for r in records if isinstance(r.get("eval_accuracy"), (int, float)) and "step" in r]
    if not points:
        return False
    families = sorted({key.split("/", 1)[1] for r in points for key in r if key.startswith("eval_accuracy/")})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label, style in [("eval_accuracy", "all tasks (micro)", "-"), ("eval_accuracy_macro", "macro", "--"),
                              *((f"eval_accuracy/{f}", f, ":") for f in families)]:
        series = [(r["step"], 100 * r[key]) for r in points if isinstance(r.get(key), (int, float))]
        if series:
            ax.plot(*zip(*series), marker="o", linestyle=style, label=label)
    if best_step is not None:
        ax.axvline(best_step, color="grey", alpha=0.6, label=f"best (step {best_step})")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Validation accuracy during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_task_accuracy(stages: list[tuple[str, dict]], path: Path) -> bool:
    """Per-task accuracy bars with 95% interval whiskers, one bar per stage, as a PNG; False without task accuracy."""
    stages = [(label, task_accuracy(stage).get("per_task")) for label, stage in stages]
    stages = [(label, per_task) for label, per_task in stages if per_task]
    if not stages:
        return False
    tasks = sorted({task for _, per_task in stages for task in per_task})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 0.8 / len(stages)
    fig, ax = plt.subplots(figsize=(8, max(3.0, (0.2 + 0.12 * len(stages)) * len(tasks) + 1.4)))
    for k, (label, per_task) in enumerate(stages):
        values = [100 * (get(per_task, task, "accuracy") or 0.0) for task in tasks]
        cis = [get(per_task, task, "ci95") or [None, None] for task in tasks]
        errors = [[max(0.0, v - 100 * ci[0]) if ci[0] is not None else 0.0 for v, ci in zip(values, cis)],
                  [max(0.0, 100 * ci[1] - v) if ci[1] is not None else 0.0 for v, ci in zip(values, cis)]]
        positions = [i + (k - (len(stages) - 1) / 2) * height for i in range(len(tasks))]
        ax.barh(positions, values, height=height, label=label, xerr=errors, error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(range(len(tasks)))
    ax.set_yticklabels(tasks)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(stages), frameon=False,
              title="Accuracy per task (whiskers: 95% interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True



#: marker per stage in the comparison plot
_MARKERS = {"base": "x", "zero-shot": "v", "k-shot": "^", "Hyper-BAG": "<", "Hyper-COT": ">", "after RL": "*",
            "trained": "o", "trained (lora)": "o", "trained (qlora)": "D", "trained (full)": "s", "majority": "_"}


def plot_comparison(comparison: dict, path: Path) -> bool:
    """Macro accuracy against parameter count (log scale), overall and per family, one marker per stage;
    False when no run records its parameter count."""
    points = [(r["parameters"], stage_label(label, r.get("strategy")), s) for r in comparison["runs"]
              if r.get("parameters")
              for label, s in (r.get("stages") or {"trained": {"macro_accuracy": r["macro_accuracy"],
                                                                "families": r["families"]}}).items()]
    if not points:
        return False
    families = sorted({f for _, _, s in points for f in s.get("families", {})})
    panels = ["all tasks", *families]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), sharey=True, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label in dict.fromkeys(label for _, label, _ in points):
            xs, ys = [], []
            for params, point_label, s in sorted(points, key=lambda p: p[0]):
                value = s.get("macro_accuracy") if panel == "all tasks" else s.get("families", {}).get(panel)
                if point_label == label and value is not None:
                    xs.append(params)
                    ys.append(100 * value)
            if xs:
                trained = label.startswith("trained")
                ax.plot(xs, ys, marker=_MARKERS.get(label, "P"), linestyle="-" if trained else ":",
                        label=label)
        ax.set_xscale("log")
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("parameters")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy % (macro over tasks)")
    axes[0][0].set_ylim(0, 100)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
