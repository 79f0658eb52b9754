"""Per-frame sentences of a judge's thinking: ``(Video 2) Frame 37: heavy noise.``

A judge names the frame it describes with the frame's context label (``workspace.frame_label``) and
says what it shows up to the full stop. One reader serves the episode engine (the findings
``reshow_findings`` shows again), the scripted teacher (which writes these sentences) and the demo's
perception metrics, so a change of wording changes every reader at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A pooled label in either order (workspace.frame_label writes them): number in n / n2, video in v / v2.
POOLED_LABEL = r"(?:Frame (?P<n>\d+) \(Video (?P<v>[12])\)|\(Video (?P<v2>[12])\) Frame (?P<n2>\d+))"

# One per-frame sentence in any label style ("Frame 37 (Video 2): heavy noise.", "(Video 2) Frame 37: normal.",
# "Video 2, frame 5: normal."); a judge's bare "Frame 37: ..." names the pooled frame by number alone.
_FRAME_SENTENCE = re.compile(
    r"(?:" + POOLED_LABEL + r"|Frame (?P<n3>\d+)|Video (?P<v4>\d+), frame (?P<n4>\d+)): (?P<what>[^.]+)\."
)


@dataclass(frozen=True)
class FrameSentence:
    """One per-frame sentence of a judge's thinking, as written."""

    text: str  # the whole sentence, "(Video 2) Frame 37: heavy noise."
    frame: tuple[int, int] | None  # (video, pool index), 0-based, from the number; None when outside the pool
    what: str  # "normal", "heavy noise", ...
    start: int = 0  # where the sentence starts in the thinking it was read from

    @property
    def what_span(self) -> tuple[int, int]:
        """Character span of ``what`` in the thinking (the sentence ends with ``what`` and a full stop)."""
        end = self.start + len(self.text) - 1
        return end - len(self.what), end


def read_frame_sentences(thinking: str, frames_per_video: int) -> list[FrameSentence]:
    """The per-frame sentences of ``thinking``, in order, in every label style.

    Pooled numbers decide the frame (the video a label names is not checked against it).
    """
    n = frames_per_video
    out = []
    for m in _FRAME_SENTENCE.finditer(thinking):
        if m["n4"] is not None:
            video, idx = int(m["v4"]) - 1, int(m["n4"]) - 1
        else:
            video, idx = divmod(int(m["n"] or m["n2"] or m["n3"]) - 1, n)
        frame = (video, idx) if 0 <= video <= 1 and 0 <= idx < n else None
        out.append(FrameSentence(m.group(0), frame, m["what"], m.start()))
    return out
