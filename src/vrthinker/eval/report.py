"""The report of a benchmark run: ``metrics.json``, ``report.md``, ``report.html``, plots.

Everything is computed from the prediction records (``predictions.jsonl``): the
accuracies by ``score_predictions`` (per dimension, by video-length bucket, with
bootstrap CIs), the tool-use statistics from each record's ``meta`` (written by
the runner from the trajectory). ``report.html`` links each pair to its trace
page ``traces/<name>.html`` written at run time, so the output directory is the
unit to copy around.
"""

from __future__ import annotations

import html
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrthinker.eval.plots import bucket_order, write_plots
from vrthinker.eval.predictions import PredictionRecord, load_predictions, score_predictions
from vrthinker.eval.runner import BAD_ROWS_FILE, DEFAULT_LENGTH_EDGES, PREDICTIONS_FILE, TRACES_DIR, safe_name

logger = logging.getLogger(__name__)

METRIC_ROWS = (
    ("accuracy_without_ties", "w/o ties (diff)"),
    ("accuracy_with_ties", "w/ ties, calibrated"),
    ("accuracy_with_ties_official", "w/ ties, VideoAlign script"),
    ("accuracy_3class", "3-class (tau)"),
    ("accuracy_4way", "GenAI-Bench 4-way"),
    ("accuracy_3way", "GenAI-Bench 3-way fold"),
    ("accuracy_2way", "GenAI-Bench 2-way fold"),
)
TOOL_USE_ROWS = (
    ("num_episodes", "episodes"),
    ("mean_tool_calls", "tool calls per episode"),
    ("invalid_call_rate", "invalid-call rate (of calls)"),
    ("mean_frames_viewed", "frames viewed per episode"),
    ("mean_visual_tokens", "visual tokens per judgment"),
    ("mean_visual_tokens_per_turn", "visual tokens per turn"),
    ("mean_turns", "turns per episode"),
    ("mean_generated_tokens", "generated tokens per episode"),
    ("answer_complete_rate", "complete answers"),
    ("format_ok_rate", "format ok"),
)


def tool_use_stats(records: Sequence[PredictionRecord], ndigits: int = 4) -> dict[str, Any]:
    """Means over episodes of the tool-use facts the runner keeps in ``meta``.

    ``invalid_call_rate`` is invalid calls over all calls (``None`` without
    calls); ``mean_visual_tokens`` sums a judgment's turns (its visual cost);
    ``end_reasons`` and ``invalid_kinds`` are counts. Records without these facts
    (predictions from elsewhere) are left out; ``num_episodes`` says how many count.
    """
    metas = [r.meta for r in records if "tool_calls" in r.meta]
    n = len(metas)
    out: dict[str, Any] = {"num_episodes": n}
    if n == 0:
        return out

    def mean(key: str) -> float:
        return round(sum(float(m.get(key) or 0) for m in metas) / n, ndigits)

    calls = sum(m["tool_calls"] for m in metas)
    turns = sum(m.get("turns") or 0 for m in metas)
    visual = sum(sum(m.get("visual_tokens_per_turn") or []) for m in metas)
    out.update(
        mean_tool_calls=mean("tool_calls"),
        mean_invalid_calls=mean("invalid_calls"),
        invalid_call_rate=round(sum(m.get("invalid_calls") or 0 for m in metas) / calls, ndigits) if calls else None,
        mean_frames_viewed=mean("frames_viewed"),
        mean_visual_tokens=mean("visual_tokens"),
        mean_visual_tokens_per_turn=round(visual / turns, ndigits) if turns else None,
        mean_turns=mean("turns"),
        mean_generated_tokens=mean("generated_tokens"),
        answer_complete_rate=mean("answer_complete"),
        format_ok_rate=mean("format_ok"),
        end_reasons=dict(Counter(m.get("end_reason") or "unknown" for m in metas).most_common()),
        invalid_kinds=dict(sum((Counter(m.get("invalid_kinds") or {}) for m in metas), Counter()).most_common()),
    )
    return out


def write_report(
    out_dir: Path,
    records: Sequence[PredictionRecord] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    length_edges: Sequence[float] = DEFAULT_LENGTH_EDGES,
    run_info: dict[str, Any] | None = None,
    title: str = "vrthinker benchmark run",
) -> dict[str, Any]:
    """Score ``records`` (default: all of ``OUT/predictions.jsonl``) and write the report files.

    Writes ``metrics.json`` (``score_predictions`` plus ``tool_use``, ``run`` and
    the file paths), ``report.md``, ``report.html`` and ``plots/*.png``; returns
    the metrics dict (what ``metrics.json`` holds).
    """
    if records is None:
        records = load_predictions(out_dir / PREDICTIONS_FILE, "vrthinker")
    metrics: dict[str, Any] = {
        "predictions": str(out_dir / PREDICTIONS_FILE),
        "format": "vrthinker",
        **score_predictions(
            records, n_resamples=n_resamples, seed=seed, bucket_key="duration_s", bucket_edges=list(length_edges)
        ),
    }
    metrics["tool_use"] = tool_use_stats(records)
    metrics["bad_rows"] = _count_lines(out_dir / BAD_ROWS_FILE)
    if run_info is not None:
        metrics["run"] = run_info
    metrics["report"] = str(out_dir / "report.html")
    plots = write_plots(metrics, records, out_dir / "plots", length_edges)
    plot_links = {name: path.relative_to(out_dir).as_posix() for name, path in plots.items()}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(metrics, plot_links, length_edges, title), encoding="utf-8")
    (out_dir / "report.html").write_text(
        render_html(metrics, records, plot_links, out_dir, length_edges, title), encoding="utf-8"
    )
    logger.info("wrote the report of %d pairs to %s", len(records), out_dir / "report.html")
    return metrics


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.is_file() else 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _ci(ci: list[float] | None) -> str:
    return "-" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _tables(metrics: dict[str, Any], edges: Sequence[float]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables as (title, header, rows) of text cells, shared by Markdown and HTML."""
    head = [
        [label, _pct(metrics[key]), _ci(metrics["ci95"].get(key)), str(metrics["support"][key])]
        for key, label in METRIC_ROWS
        if key in metrics
    ]
    dims = [
        [dim, _pct(e["accuracy_without_ties"]), _ci(e["ci95"]["accuracy_without_ties"]), _pct(e["accuracy_with_ties"]),
         _pct(e["accuracy_with_ties_official"]), _pct(e["accuracy_3class"]), str(e["num_pairs"]),
         str(e["num_non_tie"]), str(e["num_unparsed"])]
        for dim, e in metrics["per_dimension"].items()
    ]
    by_bucket = metrics.get("by_bucket") or {}
    lengths = [
        [name, str(by_bucket[name]["num_pairs"]), _pct(by_bucket[name]["accuracy_without_ties"]),
         _pct(by_bucket[name]["accuracy_with_ties"]), _pct(by_bucket[name]["accuracy_3class"])]
        for name in bucket_order(list(by_bucket), edges)
    ]
    tool_use = metrics["tool_use"]
    tools = [[label, _pct(tool_use.get(key)) + " %" if key.endswith("rate") and tool_use.get(key) is not None
              else _num(tool_use.get(key))] for key, label in TOOL_USE_ROWS if key in tool_use]
    ends = [[reason, str(count)] for reason, count in tool_use.get("end_reasons", {}).items()]
    ends += [[f"invalid call: {kind}", str(count)] for kind, count in tool_use.get("invalid_kinds", {}).items()]
    return [
        (f"Headline ({metrics['headline']}), %", ["metric", "value", "95% CI", "n"], head),
        ("Per dimension, %", ["dim", "w/o ties", "95% CI", "w/ ties", "w/ ties off.", "3-class", "n", "non-tie",
                              "unparsed"], dims),
        ("By video length (longer video), %", ["length", "n", "w/o ties", "w/ ties", "3-class"], lengths),
        ("Tool use", ["statistic", "value"], tools),
        ("End reasons and invalid calls", ["reason", "episodes / calls"], ends),
    ]


def _summary_line(metrics: dict[str, Any]) -> str:
    run = metrics.get("run") or {}
    parts = [f"{metrics['num_pairs']} pairs", f"{metrics['num_unparsed']} unparsed", f"{metrics['bad_rows']} bad rows"]
    if run:
        parts = [f"model {run.get('model')}", f"data {run.get('data')}", *parts]
    return " · ".join(str(p) for p in parts)


def render_markdown(metrics: dict[str, Any], plots: dict[str, str], edges: Sequence[float], title: str) -> str:
    """``report.md``: the tables and the plots; the per-pair table is in ``report.html``."""
    lines = [f"# {title}", "", _summary_line(metrics), "",
             "Values are percentages; docs/metrics.md defines each metric. "
             "Per-pair results and traces: [report.html](report.html).", ""]
    for name, header, rows in _tables(metrics, edges):
        if not rows:
            continue
        lines += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()] + [""]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 8px} .sub{color:#5b6474;margin-bottom:8px}
table{border-collapse:collapse;background:#fff;font-size:13px}
td,th{border:1px solid #dde1e8;padding:4px 10px;text-align:right} td:first-child,th:first-child{text-align:left}
th{background:#eef1f5} .ok{background:#e6f6ea} .bad{background:#fde8e8}
.plots{display:flex;flex-wrap:wrap;gap:12px} .plots img{background:#fff;border:1px solid #dde1e8;max-width:600px}
a{color:#2456a6}
"""


def _html_table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f" class={row_classes[i]}" if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _pair_rows(records: Sequence[PredictionRecord], out_dir: Path) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for labels, prediction, meta in records:
        pair_id = prediction.pair_id
        name = safe_name(pair_id)
        page = f"{TRACES_DIR}/{name}.html"
        if not (out_dir / page).is_file():
            page = f"{TRACES_DIR}/{name}.json"
        link = f"<a href='{html.escape(page, quote=True)}'>{html.escape(pair_id)}</a>"
        human, judged = labels.get("Overall"), prediction.choice.get("Overall")
        scored = [dim for dim in labels if dim in prediction.choice]
        correct = sum(prediction.choice[dim] == labels[dim] for dim in scored)
        rows.append([link, html.escape(human or "—"), html.escape(judged or "no answer"),
                     f"{correct}/{len(labels)}", html.escape(str(meta.get("end_reason", "-"))),
                     str(meta.get("tool_calls", "-")), str(meta.get("frames_viewed", "-"))])
        classes.append("" if human is None else ("ok" if human == judged else "bad"))
    return rows, classes


def render_html(
    metrics: dict[str, Any],
    records: Sequence[PredictionRecord],
    plots: dict[str, str],
    out_dir: Path,
    edges: Sequence[float],
    title: str,
) -> str:
    """``report.html``: tables, plots (``plots/*.png``) and one linked row per pair."""
    links = [f"<a href='{PREDICTIONS_FILE}'>predictions</a>", "<a href='metrics.json'>metrics.json</a>",
             "<a href='report.md'>report.md</a>"]
    if metrics["bad_rows"]:
        links.append(f"<a href='{BAD_ROWS_FILE}'>bad rows ({metrics['bad_rows']})</a>")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><div class=sub>{html.escape(_summary_line(metrics))}</div>",
        f"<div class=sub>{' · '.join(links)}. Values in %; docs/metrics.md defines each metric.</div>",
    ]
    run = metrics.get("run")
    if run:
        settings = ", ".join(f"{k} = {v}" for k, v in (run.get("episode") or {}).items())
        parts.append(f"<div class=sub>episode settings: {html.escape(settings)}</div>")
    for name, header, rows in _tables(metrics, edges):
        if rows:
            parts += [f"<h2>{html.escape(name)}</h2>", _html_table(header, [[html.escape(c) for c in r] for r in rows])]
    parts.append("<h2>Plots</h2><div class=plots>")
    parts += [f"<img src='{html.escape(path, quote=True)}' alt='{html.escape(name)}'>" for name, path in plots.items()]
    parts.append("</div>")
    rows, classes = _pair_rows(records, out_dir)
    parts += [
        f"<h2>Pairs ({len(rows)}): click an id for its trace</h2>",
        _html_table(["pair", "human Overall", "judge Overall", "dims correct", "end reason", "tool calls",
                     "frames viewed"], rows, classes),
        "</body></html>",
    ]
    return "".join(parts)
