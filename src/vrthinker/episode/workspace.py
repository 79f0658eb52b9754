"""The workspace of a video-preference episode: the frame pools of both videos.

Each video is sampled uniformly to ``frames_per_video`` frames (resized with
Qwen's smart-resize rule) once; every tool call and every rollout of a group
reads from the same pool. The model addresses frames by 1-based numbers;
``FrameRef`` (0-based) is what the code passes around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

from vrthinker.episode.config import FrameLabels
from vrthinker.episode.messages import FrameRef
from vrthinker.video import FrameCache, SampledVideo, uniform_frame_indices

Addressing = Literal["pooled", "per_video"]


@dataclass(frozen=True)
class VideoPairWorkspace:
    """Prompt plus the sampled frames of video 1 and video 2."""

    prompt: str
    videos: tuple[SampledVideo, SampledVideo]
    addressing: Addressing = "pooled"
    labels: FrameLabels = "frame_first"
    # The pixel bounds the pool was resized with (None for in-memory test pools); kept so a
    # saved trace can rebuild exactly the same frames.
    pixel_bounds: tuple[int, int] | None = None

    @classmethod
    def from_paths(
        cls,
        prompt: str,
        video_a: str,
        video_b: str,
        *,
        frames_per_video: int,
        min_pixels: int,
        max_pixels: int,
        addressing: Addressing = "pooled",
        labels: FrameLabels = "frame_first",
        cache: FrameCache | None = None,
    ) -> "VideoPairWorkspace":
        # A cache shared by the caller makes the G rollouts of a group decode each video once.
        cache = cache if cache is not None else FrameCache(max_entries=4)
        pools = tuple(
            cache.get(path, num_frames=frames_per_video, min_pixels=min_pixels, max_pixels=max_pixels)
            for path in (video_a, video_b)
        )
        return cls(
            prompt=prompt, videos=pools, addressing=addressing, labels=labels,  # type: ignore[arg-type]
            pixel_bounds=(min_pixels, max_pixels),
        )

    def spec(self) -> dict:
        """What ``from_spec`` needs to rebuild this workspace (for saved traces)."""
        if self.pixel_bounds is None:
            raise ValueError("an in-memory workspace (no video files) cannot be saved as a spec")
        return {
            "prompt": self.prompt,
            "video_a": self.videos[0].info.path,
            "video_b": self.videos[1].info.path,
            "frames_per_video": self.frames_per_video,
            "min_pixels": self.pixel_bounds[0],
            "max_pixels": self.pixel_bounds[1],
            "addressing": self.addressing,
            "frame_labels": self.labels,
        }

    @classmethod
    def from_spec(cls, spec: dict, cache: FrameCache | None = None) -> "VideoPairWorkspace":
        return cls.from_paths(
            spec["prompt"],
            spec["video_a"],
            spec["video_b"],
            frames_per_video=int(spec["frames_per_video"]),
            min_pixels=int(spec["min_pixels"]),
            max_pixels=int(spec["max_pixels"]),
            addressing=spec.get("addressing", "pooled"),
            labels=spec.get("frame_labels", "frame_first"),
            cache=cache,
        )

    # -- sizes and numbering -------------------------------------------------
    @property
    def frames_per_video(self) -> int:
        return len(self.videos[0].frames)

    @property
    def pool_size(self) -> int:
        return sum(len(v.frames) for v in self.videos)

    def image(self, ref: FrameRef) -> Image.Image:
        return self.videos[ref.video].frames[ref.frame_idx]

    def frame_number(self, ref: FrameRef) -> int:
        """The 1-based number the model uses for ``ref``."""
        if self.addressing == "pooled":
            return ref.video * self.frames_per_video + ref.frame_idx + 1
        return ref.frame_idx + 1

    def frame_label(self, ref: FrameRef) -> str:
        """How a frame is named to the model, e.g. ``Frame 61 (Video 2)``."""
        return frame_label(ref, self.frames_per_video, self.addressing, self.labels)

    def source_frame_index(self, ref: FrameRef) -> int:
        """The frame's index in the original video file (for reports)."""
        return self.videos[ref.video].frame_indices[ref.frame_idx]

    def initial_view(self, per_video: int) -> tuple[FrameRef, ...]:
        """``per_video`` uniformly spaced frames of each video, video 1 first."""
        if per_video == 0:
            return ()
        idx = uniform_frame_indices(self.frames_per_video, per_video)
        return tuple(FrameRef(v, i) for v in range(len(self.videos)) for i in idx)


def frame_label(ref: FrameRef, frames_per_video: int, addressing: str = "pooled", labels: str = "frame_first") -> str:
    """How frame ``ref`` is named to the model.

    Pooled: ``Frame 61 (Video 2)`` (``labels="frame_first"``, the default) or ``(Video 2) Frame 61``
    (``"video_first"``); per-video: ``Video 2, frame 13``. With ``video_first`` the digits nearest the
    image, and nearest the ``:`` after which a judge describes the frame, are the frame's own number,
    not the video's: the tiny demo model finds a frame's image among 16 by them (docs/demo.md, ninth
    session).
    """
    if addressing == "pooled":
        number = ref.video * frames_per_video + ref.frame_idx + 1
        if labels == "video_first":
            return f"(Video {ref.video + 1}) Frame {number}"
        return f"Frame {number} (Video {ref.video + 1})"
    return f"Video {ref.video + 1}, frame {ref.frame_idx + 1}"
