"""The report's generalisation table: accuracy on the test split and on each extra split (relabelled vertices,
larger and real hypergraphs, unseen encodings), with prompt lengths and the relabelled rows' consistency."""

from __future__ import annotations

from odin_core.foundation.records import task_accuracy
from odin_core.report.tables import get, interval, num, p_value, pct, table


def _split_records(metrics: dict) -> list[tuple[str, str, dict]]:
    """(split, model, record) of the run's extra splits and of ``odin eval`` results on one."""
    found = []
    for name, record in (metrics.get("extra_splits") or {}).items():
        found.append((name, "trained", record))
    for label, record in sorted((metrics.get("evaluations") or {}).items()):
        if isinstance(record, dict) and record.get("extra_split"):
            found.append((record["extra_split"], f"{'base' if record.get('base_model') else 'trained'} "
                                                 f"(`odin eval`: {label})", record))
    return found


def _tokens(record: dict) -> str:
    tokens = record.get("prompt_tokens") or {}
    return f"{round(tokens['median'])} / {tokens['max']}" if tokens.get("max") is not None else "–"


def generalisation_section(metrics: dict) -> list[str]:
    """``## Generalisation splits``, or nothing when the run evaluated none."""
    records = _split_records(metrics)
    if not records:
        return []
    rows = []
    trained = metrics.get("trained") or {}
    if trained:
        overall = task_accuracy(trained).get("overall") or {}
        rows.append([f"{trained.get('split', 'test')} (reference)", "trained", num(trained.get("num_examples")),
                     pct(overall.get("micro")), interval(overall.get("ci95")), pct(overall.get("macro")),
                     num(overall.get("format_errors")), "–", ""])
    consistency_rows = []
    for name, model, record in records:
        if "skipped" in record:
            rows.append([name, model, "0", "–", "–", "–", "–", "–", f"skipped: {record['skipped']}"])
            continue
        overall = task_accuracy(record).get("overall") or {}
        note = record.get("description", "")
        if record.get("encodings"):
            note = (note + "; " if note else "") + "encodings " + ", ".join(record["encodings"])
        flagged = get(record, "heuristics", "flagged")
        if flagged:
            note = (note + "; " if note else "") + "⚠ a shallow rule answers " + ", ".join(flagged)
        over = get(record, "generation", "prompts_over_context")
        if over:
            note = (note + "; " if note else "") + f"{over} prompts longer than the model's context"
        rows.append([name, model, num(record.get("num_examples")), pct(overall.get("micro")),
                     interval(overall.get("ci95")), pct(overall.get("macro")), num(overall.get("format_errors")),
                     _tokens(record), note])
        pairs = record.get("consistency") or {}
        if pairs.get("pairs"):
            consistency_rows.append([name, model, num(pairs["pairs"]), num(pairs["both"]), num(pairs["original_only"]),
                                     num(pairs["relabelled_only"]), num(pairs["neither"]), pct(pairs.get("kept")),
                                     interval(pairs.get("kept_ci95")), pct(pairs.get("agreement")),
                                     p_value(pairs.get("p_value"))])
    lines = ["## Generalisation splits", "",
             "Accuracy on splits that test what the model learned rather than memorised: the same questions with "
             "vertices renamed, larger hypergraphs, real hypergraphs, and encodings it did not train on. Intervals "
             "are 95% (Wilson). Prompt tokens are approximate (median / max).", "",
             table(["split", "model", "examples", "accuracy % (micro)", "95% CI", "accuracy % (macro)", "format errors",
                    "prompt tokens", "notes"], rows), ""]
    if consistency_rows:
        lines += ["### Relabelled consistency", "",
                  "Each relabelled row paired with its original test row: right on both, only on the original, only "
                  "relabelled, on neither; *kept* is the share of rows right on the original that stay right "
                  "relabelled, *agreement* the share with the same outcome; p: exact McNemar test of the two "
                  "accuracies on the pairs.", "",
                  table(["split", "model", "pairs", "both", "original only", "relabelled only", "neither", "kept %",
                         "95% CI", "agreement %", "p"], consistency_rows), ""]
    return lines
