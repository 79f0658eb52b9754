"""A self-contained HTML page showing an episode round by round.

For each assistant turn: the frames in view (thumbnails labelled by video and
frame number), the frames the memory window had dropped, the model's text,
its tool call and what came back. Images are embedded as data URLs so the
page can be mailed or opened from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

from PIL import Image

from vrthinker.episode.messages import FrameRef
from vrthinker.episode.trajectory import Trajectory

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px} .sub{color:#5b6474;margin-bottom:16px}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px 16px;margin:14px 0}
table.j{border-collapse:collapse} table.j td,table.j th{border:1px solid #dde1e8;padding:4px 10px;text-align:center}
.ok{background:#e6f6ea} .bad{background:#fde8e8}
.frames{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
figure{margin:0;text-align:center;font-size:11px;color:#3a4252}
figure img{width:96px;height:auto;image-rendering:pixelated;border:2px solid #8fa3c7;border-radius:3px;display:block}
figure.v1 img{border-color:#3a78d6} figure.v2 img{border-color:#d6793a}
figure.new img{outline:3px solid #2fa84f}
.dropped{color:#8a5a00;font-size:13px}
pre{white-space:pre-wrap;background:#f1f3f6;border-radius:6px;padding:10px;font-size:13px;margin:8px 0}
.tag{color:#7a2fa8;font-weight:600} .err{color:#b3261e;font-weight:600}
.meta span{display:inline-block;margin-right:14px;color:#3a4252;font-size:13px}
"""


def _data_url(image: Image.Image, width: int = 160) -> str:
    img = image.convert("RGB")
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _highlight(text: str) -> str:
    out = html.escape(text)
    for tag in ("think", "recommend answer", "answer", "tool_call", "final answer"):
        for t in (f"&lt;{tag}&gt;", f"&lt;/{tag}&gt;"):
            out = out.replace(t, f'<span class="tag">{t}</span>')
    return out


def _figure(ws: Any, ref: FrameRef, new: bool) -> str:
    label = html.escape(ws.frame_label(ref))
    cls = f"v{ref.video + 1}" + (" new" if new else "")
    return f'<figure class="{cls}"><img src="{_data_url(ws.image(ref))}" alt="{label}"><figcaption>{label}</figcaption></figure>'


def render_trace_html(trajectory: Trajectory, *, title: str | None = None, videos: Sequence[str] = ()) -> str:
    """The page for one trajectory (``videos``: the two file paths, for the header)."""
    ws = trajectory.workspace
    s = trajectory.summary()
    labels = trajectory.labels or {}
    rows = []
    for dim, pred in s["judgment"].items():
        gold = labels.get(dim)
        cls = "" if gold is None else (" class=ok" if gold == pred else " class=bad")
        rows.append(f"<tr><td>{dim}</td><td{cls}>{pred or '—'}</td><td>{gold or '—'}</td></tr>")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title or trajectory.key)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title or 'Episode ' + trajectory.key)}</h1>",
        f"<div class=sub>Prompt: {html.escape(getattr(ws, 'prompt', ''))}</div>",
    ]
    if videos:
        parts.append("<div class=sub>" + " &nbsp;|&nbsp; ".join(
            f"Video {i + 1}: {html.escape(str(v))}" for i, v in enumerate(videos)) + "</div>")
    parts.append(
        "<div class='card meta'>"
        f"<span>end: <b>{s['end_reason']}</b></span><span>turns: {s['turns']}</span>"
        f"<span>tool calls: {s['tool_calls']}</span><span>invalid calls: {s['invalid_calls']}</span>"
        f"<span>frames viewed: {s['frames_viewed']}</span>"
        f"<span>visual tokens per turn: {s['visual_tokens_per_turn']}</span>"
        "<table class=j><tr><th>dimension</th><th>judge</th><th>human</th></tr>" + "".join(rows) + "</table></div>"
    )
    previous_refs: set[FrameRef] = set()
    for turn in trajectory.turns:
        refs = turn.images
        figs = "".join(_figure(ws, r, r not in previous_refs and turn.index > 0) for r in refs)
        parts.append(f"<div class=card><h2 style='font-size:16px;margin:0'>Round {turn.index + 1}</h2>")
        parts.append(f"<div class=sub>{len(refs)} frames in view · {turn.visual_tokens} visual tokens · "
                     f"{turn.prompt_tokens} context tokens · {turn.completion_tokens} generated</div>")
        parts.append(f"<div class=frames>{figs}</div>")
        if turn.dropped:
            names = ", ".join(html.escape(ws.frame_label(r)) for r in turn.dropped)
            parts.append(f"<div class=dropped>Dropped by the memory window: {names}</div>")
        parts.append(f"<pre>{_highlight(turn.assistant_prefix + turn.text)}</pre>")
        error = turn.parsed.error or turn.tool_error
        if error:
            detail = html.escape(turn.parsed.detail) if turn.parsed.error else ""
            parts.append(f"<div class=err>Invalid: {html.escape(error)} {detail}</div>")
        if turn.frames_returned:
            names = ", ".join(html.escape(ws.frame_label(r)) for r in turn.frames_returned)
            parts.append(f"<div>select_frames returned: {names}</div>")
        if turn.frames_reshown:
            names = ", ".join(html.escape(ws.frame_label(r)) for r in turn.frames_reshown)
            parts.append(f"<div>Shown again (earlier findings): {names}</div>")
        parts.append("</div>")
        previous_refs = set(refs)
    parts.append("</body></html>")
    return "".join(parts)
