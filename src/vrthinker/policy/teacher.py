"""A scripted teacher for the synthetic suite: correct multi-turn traces with tool calls.

The teacher stands in for the distilled cold-start data of the paper (SPEC §5). It
knows each synthetic pair's injected defects (``pair.meta["defects"]``) and writes
the turns a good judge would write, in the episode's own format
(``docs/episode.md``):

* **Say what each frame shows, then decide.** A tiny VLM trained for minutes only
  learns a decision when the target first describes the frames it is based on
  (``docs/feasibility.md``: noise, answer-only = chance; describe-then-answer = 100 %).
  Every turn therefore opens with grouped per-frame observations ("Video 2, frames
  61-63: heavy noise."), then a one-line tally of the defects seen so far (in every turn, so
  the final decision reads the last tally, not sentences spread over all turns), then the
  call or the answer.
* **Look where the defect hides** (``strategy="oracle"``). When a defect is not in any frame
  seen so far, the teacher states its inclination (``<recommend answer>``) and calls
  ``select_frames`` on frames of that defect; with probability ``detour_prob`` the first call
  looks at frames without a new defect, and the next turn says so and corrects itself.
* **Or scan** (``strategy="scan"``): every episode spends its call budget on a fixed,
  evenly spread sample of the frames the initial view skipped (:func:`scan_plan`), and
  describes whatever comes back, clean or not. A student cannot know where an oracle's
  defect hides, so it can only imitate the *pattern* of oracle calls, and learns that frames a
  call returns always show a defect — a shortcut that skips looking. A scan is a policy the
  student can imitate exactly, and its descriptions can only be predicted from the images.
* **Honest perception.** The teacher describes only frames whose images are in the
  request's context (it reads the frame labels and the image parts, so the memory window
  ``p`` is respected), and its answer follows from the defects it has *seen*. A defect
  no pooled frame shows (a coarse pool, too few calls, ``p = 0``) is never seen, the answer
  may then be wrong, and :func:`generate_teacher_traces` drops that trace.

Determinism: each episode draws from ``np.random.default_rng((seed, crc32(key)))``, so
a trace depends on the seed and the episode key, not on batching or order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence, get_args

import numpy as np
from PIL import Image

from vrthinker.data.schema import DIMENSIONS, PreferencePair
from vrthinker.data.synthetic import SCORED_DIMENSIONS, Defect, defects_of, derive_labels
from vrthinker.episode.config import EpisodeConfig
from vrthinker.episode.messages import FrameRef, ImagePart, Message, TextPart
from vrthinker.episode.workspace import frame_label
from vrthinker.episode.policy import Generation, GenerationRequest, qwen25_visual_tokens
from vrthinker.episode.protocol import format_tool_call, parse_turn
from vrthinker.episode.sentences import POOLED_LABEL, FrameSentence
from vrthinker.episode.trajectory import Trajectory, Turn
from vrthinker.video import uniform_frame_indices

log = logging.getLogger(__name__)

# (video 0/1, pool index 0-based): what the teacher reasons about.
Frame = tuple[int, int]

_SIDES = ("a", "b")
_CHOICE = {"A": "1", "B": "2", "tie": "0"}
# The labels a frame gets in the context, in either addressing mode (see VideoPairWorkspace.frame_label).
_POOLED_LABEL = re.compile(POOLED_LABEL + r": $")
_PER_VIDEO_LABEL = re.compile(r"Video ([12]), frame (\d+): $")
# Most frames requested per hidden defect: each frame of a defect's run shows it, so a few suffice,
# and leaving room lets one call cover the two or three defects a pair usually hides.
_MAX_FRAMES_PER_DEFECT = 3
_DETOUR_LENGTH = 4

LOOK_CLOSER = "A short defect may hide between these frames."
LOOK_MORE = "More frames to check."
ELSEWHERE = "The problem must be elsewhere."
NOTHING_NEW = "Nothing new there; the problem must be elsewhere."
NOT_IN_VIEW = "The selected frames are not in view, so I answer from what I have seen."


Strategy = Literal["oracle", "scan"]
DescribeStyle = Literal["grouped", "per_frame"]
TallyStyle = Literal["per_video", "closing", "found", "found_compact", "found_letter"]
# A tally's "Video N has <dims>" sentence ("VideoN" in the compact tally, "VideoA" / "VideoB" in the lettered
# one); "has none" names no defect. tally_video() reads the group as a 0-based video.
TALLY_ENTRY = re.compile(r"Video ?([12AB]) has (?!none)")
_TALLY_ANY = re.compile(r"Video ?[12AB] has ")
_TALLY_LETTERS = "AB"


def tally_video(name: str) -> int:
    """The 0-based video a tally entry names: ``"1"``/``"A"`` -> 0, ``"2"``/``"B"`` -> 1."""
    return _TALLY_LETTERS.index(name) if name in _TALLY_LETTERS else int(name) - 1


SCAN_MORE = "Scanning more frames."
GUESS = "No defect in view; one must be hidden, so I guess."


def scan_plan(config: EpisodeConfig) -> list[list[Frame]]:
    """The frames a scanning judge requests, call by call: a fixed function of the episode settings.

    Per video, the pool frames the initial view skipped are thinned to an evenly spread sample of
    ``max_tool_calls * (max_frames_per_call // 2)`` frames (all of them if fewer), and call ``c`` takes
    every ``C``-th of them starting at ``c`` — coarse to fine, so each call covers the whole clip.
    Pooled addressing puts both videos in each call; per-video addressing alternates the videos.
    """
    n, calls, per_call = config.frames_per_video, config.max_tool_calls, config.max_frames_per_call
    if calls == 0:
        return []
    initial = set(uniform_frame_indices(n, config.initial_per_video)) if config.initial_per_video else set()
    skipped = [i for i in range(n) if i not in initial]
    pooled = config.frame_addressing == "pooled"
    rounds_per_video = calls if pooled else -(-calls // 2)
    budget = rounds_per_video * (max(1, per_call // 2) if pooled else per_call)
    if len(skipped) > budget:
        skipped = [skipped[int((j + 0.5) * len(skipped) / budget)] for j in range(budget)]
    rounds = [skipped[c::rounds_per_video] for c in range(rounds_per_video)]
    if pooled:
        plan = [sorted((v, i) for v in (0, 1) for i in r) for r in rounds]
    else:
        plan = [[(v, i) for i in r] for r in rounds for v in (0, 1)][:calls]
    return [frames for frames in plan if frames]


def lone_defect_videos(sentences: Sequence[FrameSentence]) -> set[int]:
    """The 0-based videos of which exactly one sentence names a defect and at least one says "normal".

    A short defect run met in one frame among clean ones: the sentence a judge that follows its
    neighbouring sentences gets wrong (docs/demo.md, sixth and ninth sessions).
    """
    lone = set()
    for video in (0, 1):
        said = [s.what for s in sentences if s.frame is not None and s.frame[0] == video]
        if sum(what != "normal" for what in said) == 1 and "normal" in said:
            lone.add(video)
    return lone


class TeacherError(ValueError):
    """A pair the teacher cannot script (no synthetic meta, or meta that contradicts its labels)."""


@dataclass(frozen=True)
class _PairInfo:
    pair: PreferencePair
    defects: tuple[Defect, ...]
    shape: str
    color: str
    num_frames: int


@dataclass
class _EpisodeState:
    """What one episode's teacher remembers: only what it has seen (and said) so far."""

    rng: np.random.Generator
    seen: set[Frame] = field(default_factory=set)  # frames whose images were in some context
    requested: set[Frame] = field(default_factory=set)
    detoured: bool = False  # the first call looked in the wrong place on purpose
    calls: int = 0


def _text_of(message: Message) -> str:
    return "".join(p.text for p in message.parts if isinstance(p, TextPart))


def _compress(numbers: Sequence[int]) -> str:
    """``[20, 21, 22, 30]`` -> ``"20-22, 30"`` (short, and still names every frame)."""
    out: list[str] = []
    nums = sorted(set(numbers))
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        # Two neighbours read better as "20, 21" than as a range.
        if j - i >= 2:
            out.append(f"{nums[i]}-{nums[j]}")
        else:
            out.extend(str(n) for n in nums[i : j + 1])
        i = j + 1
    return ", ".join(out)


def pair_is_scriptable(pair: PreferencePair) -> str | None:
    """``None`` if the teacher can script ``pair``, else why not."""
    meta = pair.meta
    if "defects" not in meta or "scene" not in meta or "num_frames" not in meta:
        return "not a synthetic pair (meta has no defects/scene/num_frames)"
    try:
        labels = derive_labels(defects_of(pair))
    except (KeyError, TypeError, ValueError) as err:
        return f"unreadable defects in meta ({err})"
    # A swapped or relabelled pair keeps the original meta: its defects no longer explain its labels.
    if any(pair.labels.get(d) != labels[d] for d in DIMENSIONS):
        return f"labels {pair.labels} do not follow from the defects in meta ({labels})"
    return None


class ScriptedTeacher:
    """A ``Policy`` that writes correct traces for synthetic pairs (see the module docstring).

    Args:
        pairs: the synthetic pairs; episodes are looked up by key (``pair_id`` or ``pair_id#k``).
        config: the episode settings the traces are run with (pool size, call budget, addressing).
        seed: an int, or a ``np.random.Generator`` from which one base seed is drawn.
        detour_prob: chance that the first call of an episode looks in the wrong place first
            (``strategy="oracle"`` only).
        strategy: ``"oracle"`` calls on the frames of hidden defects; ``"scan"`` always spends
            the call budget on :func:`scan_plan` (see the module docstring for why).
        describe: ``"grouped"`` (frames of a video showing the same thing share a sentence) or
            ``"per_frame"`` (one short sentence per new frame, in the order shown: a fixed
            layout, easiest for a tiny model to tie each sentence to its image).
        tally: where the running tally of defects seen so far goes. ``"per_video"``: right after
            each video's frame sentences, one sentence per video ("Video 2 has VQ."), so the
            evidence it sums is the few sentences just before it. ``"closing"``: one sentence for
            both videos closing the thinking ("Defects: Video 1 has VQ; Video 2 has none."); the
            tiny model then often copied Video 1's value into Video 2's slot (docs/teacher.md).
            ``"found"``: the closing sentence lists only the videos with a defect found so far
            ("Defects: Video 2 has VQ.", "Defects: none."), so carrying it to the next turn is
            copying the last tally rather than filling two slots that differ in one digit.
            ``"found_compact"``: as ``"found"`` with the number joined to the word ("Defects: Video2
            has VQ."). Qwen2's pre-tokenizer splits " 2" into " " and "2", and " " precedes every
            number in the context (frame numbers, labels, answers); "Video2" is " Video", "2", so the
            digit follows a token that only tallies have, and carrying it to the next turn is one
            look-up of what followed " Video" last time (docs/teacher.md). ``"found_letter"``: as
            ``"found_compact"`` with a letter for the video ("Defects: VideoB has VQ." for Video 2). The
            tiny tokenizer's "A" and "B" occur nowhere else in a trace (digits are in every frame number),
            so an earlier tally's video is a token the judge can find by what it is, not by what precedes it.
        guess_unseen: when an episode ends with no defect seen in either video, say so (:data:`GUESS`)
            and answer as if one video, drawn at random (per episode, from ``seed``), hid defects of the
            dimensions the pair's defects are of, instead of a tie.
            A judge shown a fixed frame sample (no tool) misses defects hidden between its frames; taught
            to answer "tie" there, it scores nothing on those pairs, where a guess is right half the time.
            Guessed traces whose side is wrong fail :func:`generate_teacher_traces`' label check like any
            wrong trace, so the kept ones guess the labelled side, which the judge cannot tell from chance.
    """

    def __init__(
        self,
        pairs: Sequence[PreferencePair],
        config: EpisodeConfig,
        seed: int | np.random.Generator = 0,
        *,
        detour_prob: float = 0.2,
        strategy: Strategy = "oracle",
        describe: DescribeStyle = "grouped",
        tally: TallyStyle = "closing",
        guess_unseen: bool = False,
    ):
        if not 0.0 <= detour_prob <= 1.0:
            raise ValueError(f"detour_prob must be in [0, 1], got {detour_prob}")
        if strategy not in get_args(Strategy):
            raise ValueError(f"strategy must be one of {get_args(Strategy)}, got {strategy!r}")
        if describe not in get_args(DescribeStyle):
            raise ValueError(f"describe must be one of {get_args(DescribeStyle)}, got {describe!r}")
        if tally not in get_args(TallyStyle):
            raise ValueError(f"tally must be one of {get_args(TallyStyle)}, got {tally!r}")
        self.config = config
        self.detour_prob = detour_prob if strategy == "oracle" else 0.0
        self.strategy = strategy
        self.describe = describe
        self.tally = tally
        self.guess_unseen = guess_unseen
        self._scan = scan_plan(config) if strategy == "scan" else []
        self.seed = int(seed.integers(2**31)) if isinstance(seed, np.random.Generator) else int(seed)
        self._pairs: dict[str, _PairInfo] = {}
        for pair in pairs:
            why = pair_is_scriptable(pair)
            if why is not None:
                raise TeacherError(f"pair {pair.pair_id!r}: {why}")
            scene = pair.meta["scene"]
            self._pairs[pair.pair_id] = _PairInfo(
                pair=pair,
                defects=tuple(defects_of(pair)),
                shape=str(scene["shape"]),
                color=str(scene["color"]),
                num_frames=int(pair.meta["num_frames"]),
            )
        self._states: dict[str, _EpisodeState] = {}
        self.requests: int = 0

    # -- Policy ---------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for req in requests:
            self.requests += 1
            text = self.turn_text(req)
            words = len(text.split())
            prompt_tokens = sum(
                len(p.text.split()) for m in req.messages for p in m.parts if isinstance(p, TextPart)
            ) + sum(self.visual_tokens(img) for img in req.images)
            # Token counts are whitespace words, as in ReplayPolicy: the teacher has no tokenizer.
            out.append(Generation(text=text, finish_reason="stop", prompt_tokens=prompt_tokens, completion_tokens=words))
        return out

    def visual_tokens(self, image: Image.Image) -> int:
        return qwen25_visual_tokens(image)

    # -- introspection (stats, tests) -------------------------------------------
    def detoured(self, key: str) -> bool:
        """Whether episode ``key`` made a detour call (looked in the wrong place first)."""
        state = self._states.get(key)
        return bool(state and state.detoured)

    # -- the script ----------------------------------------------------------------
    def _info(self, key: str) -> _PairInfo:
        pair_id = key.split("#", 1)[0]
        try:
            return self._pairs[pair_id]
        except KeyError:
            raise KeyError(f"the teacher has no pair for episode {key!r}") from None

    def _pool_sources(self, info: _PairInfo) -> list[int]:
        # The workspace samples each clip with uniform_frame_indices; defects are in source-frame indices.
        return uniform_frame_indices(info.num_frames, self.config.frames_per_video)

    def _number(self, frame: Frame) -> int:
        video, idx = frame
        if self.config.frame_addressing == "pooled":
            return video * self.config.frames_per_video + idx + 1
        return idx + 1

    def _frames_in_context(self, messages: Sequence[Message]) -> tuple[list[Frame], list[tuple[Frame, bool, int | None]]]:
        """Frames named in the context, read from their labels: ``(in_view, [(frame, has_image, tool_round)])``."""
        n = self.config.frames_per_video
        named: list[tuple[Frame, bool, int | None]] = []
        for message in messages:
            parts = message.parts
            for i, part in enumerate(parts):
                if not isinstance(part, TextPart):
                    continue
                m = _POOLED_LABEL.search(part.text)
                if m:
                    number, video = int(m["n"] or m["n2"]), int(m["v"] or m["v2"]) - 1
                    frame = (video, number - 1 - video * n)
                else:
                    m = _PER_VIDEO_LABEL.search(part.text)
                    if not m:
                        continue
                    frame = (int(m.group(1)) - 1, int(m.group(2)) - 1)
                has_image = i + 1 < len(parts) and isinstance(parts[i + 1], ImagePart)
                named.append((frame, has_image, message.tool_round))
        in_view = [f for f, has_image, _ in named if has_image]
        return in_view, named

    def _visible(self, info: _PairInfo, frame: Frame) -> tuple[Defect, ...]:
        """The defects one pooled frame shows (every defect is visible in a single frame)."""
        src = self._pool_sources(info)[frame[1]]
        side = _SIDES[frame[0]]
        return tuple(d for d in info.defects if d.video == side and src in d.frames)

    def _observable(self, info: _PairInfo) -> list[Defect]:
        """Defects some frame of the pool shows (a coarse pool can skip a short local run)."""
        sources = self._pool_sources(info)
        return [d for d in info.defects if set(d.frames) & set(sources)]

    def _defect_frames(self, info: _PairInfo, defect: Defect) -> list[Frame]:
        video = _SIDES.index(defect.video)
        run = set(defect.frames)
        return [(video, i) for i, s in enumerate(self._pool_sources(info)) if s in run]

    def _observations(self, info: _PairInfo, frames: Sequence[Frame], observed: Sequence[Defect]) -> str:
        """What the new frames show, with the per-video tallies after each video's sentences (``tally="per_video"``)."""
        if self.tally != "per_video":
            return self._describe(info, frames)
        chunks = []
        for video in (0, 1):
            mine = [f for f in frames if f[0] == video]
            if mine:
                chunks.append(self._describe(info, mine))
            chunks.append(self._video_tally(observed, video))
        return " ".join(chunks)

    def _describe(self, info: _PairInfo, frames: Sequence[Frame]) -> str:
        """Grouped observations: frames of one video showing the same defects share a sentence."""
        if self.describe == "per_frame":
            return self._describe_per_frame(info, frames)
        sentences = []
        for video in (0, 1):
            groups: dict[tuple[Defect, ...], list[int]] = {}
            for frame in sorted(f for f in set(frames) if f[0] == video):
                key = tuple(sorted(self._visible(info, frame), key=lambda d: SCORED_DIMENSIONS.index(d.dimension)))
                groups.setdefault(key, []).append(self._number(frame))
            for defects, numbers in groups.items():
                what = "; ".join(d.description for d in defects) if defects else f"the {info.color} {info.shape} looks normal"
                noun = "frame" if len(numbers) == 1 else "frames"
                sentences.append(f"Video {video + 1}, {noun} {_compress(numbers)}: {what}.")
        return " ".join(sentences)

    def frame_sentence(self, pair_id: str, frame: Frame) -> str:
        """The per-frame sentence for pool frame ``(video, index)`` of a pair: ``"Frame 9 (Video 1): heavy noise."``.

        The reference a judge's own per-frame sentences are checked against (perception metrics).
        """
        return self._describe_per_frame(self._pairs[pair_id], [frame])

    def _describe_per_frame(self, info: _PairInfo, frames: Sequence[Frame]) -> str:
        """One short sentence per frame, in the order the frames appear ("Frame 9 (Video 1): heavy noise.")."""
        sentences = []
        for frame in dict.fromkeys(frames):  # as shown: the tool keeps the order of the call
            defects = sorted(self._visible(info, frame), key=lambda d: SCORED_DIMENSIONS.index(d.dimension))
            what = "; ".join(d.description for d in defects) if defects else "normal"
            if self.config.frame_addressing == "pooled":
                # The frame's own context label, copied: the video is named, so the tally that follows
                # reads "(Video 1): heavy noise" instead of decoding which video frame 37 belongs to.
                label = frame_label(FrameRef(*frame), self.config.frames_per_video, "pooled", self.config.frame_labels)
                sentences.append(f"{label}: {what}.")
            else:
                sentences.append(f"Video {frame[0] + 1}, frame {self._number(frame)}: {what}.")
        return " ".join(sentences)

    @staticmethod
    def _video_defects(observed: Sequence[Defect], video: int) -> str:
        """``"VQ, MQ"`` or ``"none"``: the dimensions with a defect seen in one video."""
        dims = [dim for dim in SCORED_DIMENSIONS if any(d.video == _SIDES[video] and d.dimension == dim for d in observed)]
        return ", ".join(dims) if dims else "none"

    @classmethod
    def _video_tally(cls, observed: Sequence[Defect], video: int) -> str:
        return f"Video {video + 1} has {cls._video_defects(observed, video)}."

    def _tally(self, observed: Sequence[Defect]) -> str:
        """Defects per video by dimension: the bridge from perception to the decision.

        ``"closing"`` names both videos; ``"found"`` / ``"found_compact"`` only those with a defect
        ("Defects: none." if neither); ``"found_compact"`` writes "Video2", not "Video 2";
        ``"found_letter"`` writes "VideoB".
        """
        per_video = [(v, self._video_defects(observed, v)) for v in (0, 1)]
        if self.tally in ("found", "found_compact", "found_letter"):
            per_video = [(v, dims) for v, dims in per_video if dims != "none"]
            if not per_video:
                return "Defects: none."
        if self.tally == "found_letter":
            return "Defects: " + "; ".join(f"Video{_TALLY_LETTERS[v]} has {dims}" for v, dims in per_video) + "."
        space = "" if self.tally == "found_compact" else " "
        return "Defects: " + "; ".join(f"Video{space}{v + 1} has {dims}" for v, dims in per_video) + "."

    @staticmethod
    def read_tally(thinking: str) -> set[int] | None:
        """The 0-based videos the last tally in ``thinking`` names with a defect; ``None`` if it has no tally.

        Reads every style this teacher writes: the closing sentence of ``"closing"``, ``"found"`` and
        ``"found_compact"`` (what follows the last "Defects:"), or the per-video sentences of
        ``"per_video"`` ("Video 2 has VQ."). Kept next to :meth:`_tally` so that a change of wording
        changes the reader with it (``decision_links`` and the tests use it).
        """
        if "Defects:" in thinking:
            thinking = thinking.rsplit("Defects:", 1)[-1]
        elif not _TALLY_ANY.search(thinking):
            return None
        return {tally_video(v) for v in TALLY_ENTRY.findall(thinking)}

    @staticmethod
    def _recommend(observed: Sequence[Defect]) -> str:
        labels = derive_labels(observed)
        return ", ".join(f"{d}: {_CHOICE[labels[d]]}" for d in DIMENSIONS)

    @staticmethod
    def _answer(observed: Sequence[Defect], overall: str | None = None) -> str:
        labels = derive_labels(observed) | ({"Overall": overall} if overall else {})
        lines = "\n".join(f"{d}: {_CHOICE[labels[d]]}" for d in DIMENSIONS)
        return f"<answer>\n{lines}\n</answer>"

    def _targets(self, info: _PairInfo, unseen: Sequence[Defect], state: _EpisodeState) -> list[Frame]:
        """Frames for the next call: a few central frames of each hidden defect, one call's worth.

        Per-video addressing names one video per call, so only the first hidden defect's video is packed.
        """
        limit = self.config.max_frames_per_call
        candidates = list(unseen)
        if self.config.frame_addressing == "per_video" and candidates:
            first = _SIDES.index(candidates[0].video)
            candidates = [d for d in candidates if _SIDES.index(d.video) == first]
        per_defect = max(1, min(_MAX_FRAMES_PER_DEFECT, limit // max(1, len(candidates))))
        chosen: list[Frame] = []
        for defect in candidates:
            run = [f for f in self._defect_frames(info, defect) if f not in state.requested and f not in state.seen]
            if not run:
                continue
            start = max(0, (len(run) - per_defect) // 2)  # central frames: the run's middle shows it best
            for frame in run[start : start + per_defect]:
                if len(chosen) < limit and frame not in chosen:
                    chosen.append(frame)
            if len(chosen) >= limit:
                break
        return sorted(chosen)

    def _calls_needed(self, unseen: Sequence[Defect]) -> int:
        """Calls the plan takes to reach every hidden defect (one frame each at worst)."""
        limit = self.config.max_frames_per_call
        if self.config.frame_addressing == "per_video":
            return sum(-(-sum(d.video == side for d in unseen) // limit) for side in _SIDES)
        return -(-len(unseen) // limit)

    def _detour_frames(self, info: _PairInfo, unseen: Sequence[Defect], state: _EpisodeState) -> list[Frame]:
        """A short run of frames in a hidden defect's video that shows nothing not yet seen."""
        video = _SIDES.index(unseen[0].video)
        n = self.config.frames_per_video
        length = min(_DETOUR_LENGTH, self.config.max_frames_per_call, n)
        unseen_set = set(unseen)
        starts = []
        for s in range(0, n - length + 1):
            window = [(video, i) for i in range(s, s + length)]
            if any(f in state.seen for f in window):
                continue
            if any(d in unseen_set for f in window for d in self._visible(info, f)):
                continue
            starts.append(s)
        if not starts:
            return []
        s = starts[int(state.rng.integers(len(starts)))]
        return [(video, i) for i in range(s, s + length)]

    def _call(self, frames: Sequence[Frame], state: _EpisodeState) -> str:
        state.requested.update(frames)
        state.calls += 1
        numbers = [self._number(f) for f in frames]
        if self.config.frame_addressing == "per_video":
            arguments: dict[str, Any] = {"video": frames[0][0] + 1, "target_frames": numbers}
        else:
            arguments = {"target_frames": numbers}
        return format_tool_call("select_frames", arguments)

    def turn_text(self, request: GenerationRequest) -> str:
        """The teacher's turn for ``request`` (a pure function of the context and the episode's rng)."""
        key = request.episode_key
        info = self._info(key)
        turn = sum(m.role == "assistant" for m in request.messages)
        if turn == 0 or key not in self._states:
            # A fresh episode (also when the same key is judged again): reset the memory.
            self._states[key] = _EpisodeState(rng=np.random.default_rng((self.seed, zlib.crc32(key.encode()))))
        state = self._states[key]
        # Calls so far, from the context itself (each earlier assistant turn is there in full).
        state.calls = sum(m.role == "assistant" and "<tool_call>" in _text_of(m) for m in request.messages)

        in_view, named = self._frames_in_context(request.messages)
        new = [f for f in dict.fromkeys(in_view) if f not in state.seen]
        # reshow_findings: earlier findings the last reply shows again are described again, after the
        # new frames (their order in the reply), so every tally entry has its sentence in this turn.
        last_round = max((r for _, _, r in named if r is not None), default=None)
        reshown = [] if self.config.reshow_findings == 0 or last_round != turn - 1 else [
            f for f in dict.fromkeys(f for f, has_image, r in named if has_image and r == last_round) if f in state.seen
        ]
        state.seen.update(in_view)
        observed = [d for d in info.defects if any(d in self._visible(info, f) for f in state.seen)]
        unseen = [d for d in self._observable(info) if d not in observed]
        calls_left = self.config.max_tool_calls - state.calls

        # What the last tool call returned, and whether its images are in this context.
        returned = [f for f, _, r in named if r is not None and r == last_round]
        returned_visible = last_round is not None and last_round == turn - 1 and any(
            has_image for _, has_image, r in named if r == last_round
        )

        think: list[str] = []
        if new or self.tally == "per_video":
            think.append(self._observations(info, new, observed))
        if reshown:
            think.append(self._describe(info, reshown))
        if last_round == turn - 1 and returned and not returned_visible:
            # p = 0: the frames came back as placeholders; say so rather than invent what they show.
            think.append(NOT_IN_VIEW)
            return self._final(think, observed, state, info)

        if state.detoured and turn == 1 and last_round == 0:
            # The detour frames show nothing new (chosen so): say so, then look in the right place.
            clean = not any(self._visible(info, f) for f in new)
            think.append(ELSEWHERE if clean else NOTHING_NEW)

        if self.strategy == "scan":
            pending = [r for r in self._scan if not set(r) <= state.requested]
            if pending and calls_left > 0:
                think.append(SCAN_MORE)
                return self._call_turn(think, observed, pending[0], state)
            return self._final(think, observed, state, info)

        if unseen and calls_left > 0:
            if turn == 0:
                needed = self._calls_needed(unseen)
                draw = state.rng.random()  # always drawn: the stream does not depend on the budget
                if draw < self.detour_prob and needed + 1 <= calls_left:
                    detour = self._detour_frames(info, unseen, state)
                    if detour:
                        state.detoured = True
                        think.append(LOOK_CLOSER)
                        return self._call_turn(think, observed, detour, state)
            targets = self._targets(info, unseen, state)
            if targets:
                if not (state.detoured and turn == 1):  # after a detour, "elsewhere" already says why
                    think.append(LOOK_CLOSER if turn == 0 else LOOK_MORE)
                return self._call_turn(think, observed, targets, state)
        return self._final(think, observed, state, info)

    def reasoning_agrees(self, trajectory: Trajectory) -> bool:
        """Whether every turn of ``trajectory`` thinks (and recommends) what the teacher would in its place.

        The teacher's thinking is a function of the turn's context (the frames in view, what the
        earlier turns said), so replaying each context checks the judge's perception (every frame
        sentence) and its bookkeeping (the tallies), not only its final answer; where it calls is
        left free. Rejection sampling uses this as a process check: a trace that reaches the right
        answer through a wrong tally would teach the wrong tally (docs/demo.md).
        """
        return all(self._turn_agrees(trajectory, turn) for turn in trajectory.turns)

    def reasoning_agreement(self, trajectory: Trajectory) -> float:
        """The fraction of ``trajectory``'s turns that :meth:`reasoning_agrees` would accept (0 with no turns).

        A graded form of the same check, for a reward: a rollout whose first turns are right earns
        part of it (stage III's ``process`` reward part, ``RewardConfig.process_weight``).
        """
        turns = trajectory.turns
        return sum(self._turn_agrees(trajectory, turn) for turn in turns) / len(turns) if turns else 0.0

    def _turn_agrees(self, trajectory: Trajectory, turn: Turn) -> bool:
        request = GenerationRequest(messages=turn.context, images=(), max_new_tokens=0, episode_key=trajectory.key)
        expected = parse_turn(self.turn_text(request), ("select_frames",), lambda text: None)
        return (turn.parsed.think, turn.parsed.recommend) == (expected.think, expected.recommend)

    def _call_turn(self, think: list[str], observed: Sequence[Defect], frames: Sequence[Frame], state: _EpisodeState) -> str:
        # A running tally in every turn: the final decision then reads the last turn's tally and this
        # turn's frames, instead of gathering sentences spread over all earlier turns.
        # It closes the thinking, right before the recommendation it justifies (as in the final turn).
        if self.tally != "per_video":  # closing, found(_compact): one tally closes the thinking
            think = [*think, self._tally(observed)]
        return (
            f"<think>{' '.join(think)}</think>"
            f"<recommend answer>{self._recommend(observed)}</recommend answer>"
            f"{self._call(frames, state)}"
        )

    def _final(self, think: list[str], observed: Sequence[Defect], state: _EpisodeState, info: _PairInfo) -> str:
        if self.tally != "per_video":  # closing, found(_compact): one tally closes the thinking
            think = [*think, self._tally(observed)]
        overall = None
        if self.guess_unseen and not observed:
            # The side is a coin flip; the dimensions are those the pair's defects are of (the suite's kinds),
            # so a right guess answers every label and passes the label check like any right trace. A clean
            # pair has none: the guess names a side for Overall alone, and fails the check (its label is a tie).
            think = [*think, GUESS]
            worse = "b" if state.rng.random() < 0.5 else "a"
            observed = [dataclasses.replace(d, video=worse) for d in info.defects]
            overall = None if observed else ("A" if worse == "b" else "B")
        return f"<think>{' '.join(think)}</think>{self._answer(observed, overall)}"


# --------------------------------------------------------------------------- batch generation


def generate_frame_description_traces(
    pairs: Sequence[PreferencePair],
    out_path: str | Path,
    config: EpisodeConfig,
    *,
    stride: int = 1,
    balance: bool = False,
    frames_per_turn: int = 1,
    aligned: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Perception warm-up data: "describe these frames" turns, in the trace format.

    For each pair, one trace record whose turns each show a single pool frame (every
    ``stride``-th, both videos) labelled as the episode labels it, with the per-frame sentence
    the teacher would write as the target (``"Frame 17 (Video 1): heavy noise."``). SFT on these turns
    (``train_sft`` reads them like any trace) teaches a model from scratch to *see* the defects
    before it learns to judge — the role pretraining plays for a real VLM: a tiny model learns
    the same perception from whole episodes far more slowly, because there one decision is
    buried among hundreds of copyable tokens (``docs/demo.md``). Rewrites ``out_path``.

    ``balance=True`` keeps, per pair, every frame that shows a defect and as many clean frames
    (at least 2, evenly spread): defect frames are a minority, and a balanced sample gets the
    model off the "always normal" plateau sooner.

    ``frames_per_turn=k`` groups a pair's frames (shuffled with ``seed``) into turns of up to ``k``
    frames, shown in pooled order with one sentence each — the layout of a scan turn, so the
    model also learns to tie each sentence to its own image among several, and gets ``k``
    perception targets per sample instead of one.

    ``aligned=True`` shows each pool index of *both* videos together (``frames_per_turn // 2``
    indices per turn; ``balance`` then counts indices): the two clips of a pair share the scene, so
    the clean frame next to a noisy one is a contrast — as in a scan turn, which shows both videos
    at the same indices.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if frames_per_turn < 1:
        raise ValueError(f"frames_per_turn must be >= 1, got {frames_per_turn}")
    started = time.perf_counter()
    teacher = ScriptedTeacher(pairs, config, 0, describe="per_frame")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    n = config.frames_per_video
    turns = 0
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for pair in pairs:
            info = teacher._pairs[pair.pair_id]
            records = []
            # Units a turn is made of: single frames, or (aligned) one pool index of both videos.
            units = [[(v, i)] for v in (0, 1) for i in range(0, n, stride)]
            if aligned:
                units = [[(0, i), (1, i)] for i in range(0, n, stride)]
            if balance:
                defective = [u for u in units if any(teacher._visible(info, f) for f in u)]
                clean = [u for u in units if u not in defective]
                k = min(len(clean), max(2, len(defective)))
                picked = [clean[int((j + 0.5) * len(clean) / k)] for j in range(k)]
                units = [u for u in units if u in picked or u in defective]
            per_turn = max(1, frames_per_turn // len(units[0])) if units else 1
            if per_turn > 1:
                order = np.random.default_rng((seed, zlib.crc32(pair.pair_id.encode()))).permutation(len(units))
                groups = [sorted(f for j in order[g : g + per_turn] for f in units[j])
                          for g in range(0, len(units), per_turn)]  # fmt: skip
            else:
                groups = units
            for group in groups:
                parts: list[TextPart | ImagePart] = []
                for video, idx in group:
                    ref = FrameRef(video, idx)
                    label = frame_label(ref, n, config.frame_addressing, config.frame_labels)
                    parts += [TextPart(f"\n{label}: "), ImagePart(ref)]
                text = " ".join(teacher.frame_sentence(pair.pair_id, frame) for frame in group)
                records.append({"index": len(records), "context": [Message("user", tuple(parts)).to_json()],
                                "text": text})  # fmt: skip
            spec = {"prompt": pair.prompt, "video_a": str(pair.video_a), "video_b": str(pair.video_b),
                    "frames_per_video": n, "min_pixels": config.min_pixels, "max_pixels": config.max_pixels,
                    "addressing": config.frame_addressing, "frame_labels": config.frame_labels}  # fmt: skip
            f.write(json.dumps({"key": f"{pair.pair_id}#frames", "labels": dict(pair.labels), "workspace": spec,
                                "turn_records": records}) + "\n")  # fmt: skip
            turns += len(records)
    os.replace(tmp, out_path)
    return {"out": str(out_path), "pairs": len(pairs), "turns": turns, "seconds": round(time.perf_counter() - started, 3)}


def _labels_as_judgment(labels: dict[str, str]) -> dict[str, str | None]:
    return {d: labels.get(d) for d in DIMENSIONS}


def generate_teacher_traces(
    pairs: Sequence[PreferencePair],
    out_path: str | Path,
    config: EpisodeConfig,
    *,
    seed: int = 0,
    detour_prob: float = 0.2,
    strategy: Strategy = "oracle",
    describe: DescribeStyle = "grouped",
    tally: TallyStyle = "closing",
    guess_unseen: bool = False,
    batch_pairs: int = 32,
    resume: bool = True,
) -> dict[str, Any]:
    """Run the teacher on ``pairs`` and append the correct traces to ``out_path`` (JSONL).

    Pairs are judged ``batch_pairs`` at a time (each chunk is appended and fsynced, so an
    interrupted run resumes where it stopped). A trace is kept only if it answered every
    dimension with the pair's labels and ``format_ok``; the others are counted, not written
    (they happen when a defect cannot be seen: a coarse pool, too few calls, ``p = 0``).

    Returns stats: ``written``, ``rejected`` (with reasons), ``skipped_existing`` (resume),
    ``unscriptable`` (not synthetic pairs), ``mean_turns``, ``tool_call_rate`` (share of written
    traces with a call), ``mean_tool_calls``, ``detours``, ``seconds``.
    """
    from vrthinker.episode.traces import append_traces, iter_trace_records
    from vrthinker.policy.judge import Judge

    started = time.perf_counter()
    out_path = Path(out_path)
    existing: set[str] = set()
    if resume and out_path.exists():
        existing = {str(rec.get("key")) for _, rec in iter_trace_records(out_path)}
    elif not resume and out_path.exists():
        out_path.unlink()  # a fresh run replaces the file rather than appending duplicates

    unscriptable: dict[str, str] = {}
    todo: list[PreferencePair] = []
    for pair in pairs:
        why = pair_is_scriptable(pair)
        if why is not None:
            unscriptable[pair.pair_id] = why
        elif pair.pair_id not in existing:
            todo.append(pair)
    skipped = sum(p.pair_id in existing for p in pairs)

    teacher = ScriptedTeacher(todo, config, seed, detour_prob=detour_prob, strategy=strategy, describe=describe,
                              tally=tally, guess_unseen=guess_unseen)
    judge = Judge(teacher, config)
    written = 0
    turns = calls = with_call = detours = 0
    rejected: dict[str, int] = {"wrong_judgment": 0, "format": 0}
    for start in range(0, len(todo), max(1, batch_pairs)):
        chunk = todo[start : start + max(1, batch_pairs)]
        keep = []
        for traj in judge.judge_pairs(chunk):
            if not traj.format_ok:
                rejected["format"] += 1
                continue
            if traj.judgment != _labels_as_judgment(traj.labels or {}):
                rejected["wrong_judgment"] += 1
                continue
            detoured = teacher.detoured(traj.key)
            traj.meta["teacher"] = {"seed": seed, "detour": detoured, "detour_prob": detour_prob,
                                    "strategy": strategy, "describe": describe, "tally": tally,
                                    "guess_unseen": guess_unseen}
            keep.append(traj)
            turns += len(traj.turns)
            calls += traj.tool_calls
            with_call += traj.tool_calls > 0
            detours += detoured
        if keep:
            append_traces(out_path, keep)
        written += len(keep)
        log.info("teacher: %d/%d pairs done, %d traces written", start + len(chunk), len(todo), written)
    if unscriptable:
        log.warning("teacher: skipped %d pair(s) it cannot script (first: %s)", len(unscriptable), next(iter(unscriptable.items())))
    return {
        "out": str(out_path),
        "pairs": len(pairs),
        "written": written,
        "rejected": sum(rejected.values()),
        "rejected_reasons": rejected,
        "skipped_existing": skipped,
        "unscriptable": len(unscriptable),
        "mean_turns": turns / written if written else 0.0,
        "tool_call_rate": with_call / written if written else 0.0,
        "mean_tool_calls": calls / written if written else 0.0,
        "detours": detours,
        "seconds": round(time.perf_counter() - started, 3),
    }
