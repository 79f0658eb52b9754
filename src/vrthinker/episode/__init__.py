"""The thinking-with-image episode engine (no torch, no transformers).

``run_episodes(jobs, policy, task, tools, config)`` runs judges turn by turn:
the task writes the opening messages, the policy writes each turn, tools
(``select_frames``) answer calls, and the memory window decides which returned
frames stay in view. Each assistant turn becomes a ``Segment`` for training.
"""

from vrthinker.episode.config import EpisodeConfig
from vrthinker.episode.engine import EpisodeJob, run_episodes
from vrthinker.episode.messages import FrameRef, ImagePart, Message, TextPart, context_images, to_chat_dicts
from vrthinker.episode.policy import Generation, GenerationRequest, Policy, qwen25_visual_tokens
from vrthinker.episode.protocol import ParsedTurn, ToolCall, format_tool_call, parse_turn, tools_system_prompt
from vrthinker.episode.tasks import VideoPreferenceTask
from vrthinker.episode.tools import SelectFrames, Tool, ToolResult
from vrthinker.episode.trajectory import Segment, Trajectory, Turn
from vrthinker.episode.window import DROPPED_TEXT, apply_memory_window

__all__ = [
    "DROPPED_TEXT",
    "EpisodeConfig",
    "EpisodeJob",
    "FrameRef",
    "Generation",
    "GenerationRequest",
    "ImagePart",
    "Message",
    "ParsedTurn",
    "Policy",
    "Segment",
    "SelectFrames",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolResult",
    "Trajectory",
    "Turn",
    "VideoPreferenceTask",
    "apply_memory_window",
    "context_images",
    "format_tool_call",
    "parse_turn",
    "qwen25_visual_tokens",
    "run_episodes",
    "to_chat_dicts",
    "tools_system_prompt",
]
