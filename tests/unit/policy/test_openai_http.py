"""The OpenAI-compatible backend against a local fake server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fakes import openai_server
from PIL import Image

from vrthinker.episode import EpisodeConfig, EpisodeJob, SelectFrames, VideoPreferenceTask, run_episodes
from vrthinker.episode.workspace import VideoPairWorkspace
from vrthinker.policy.openai_http import OpenAIEndpointError, OpenAIPolicy

CALL = '<think>a</think><recommend answer>1</recommend answer><tool_call>{"name": "select_frames", "arguments": {"target_frames": [5, 20]}}</tool_call>'
ANSWER = "<think>b</think><answer>\nTA: 1\nVQ: 1\nMQ: 2\nOverall: 1\n</answer>"


@pytest.fixture
def server():
    with openai_server(lambda body: CALL if len(body["messages"]) == 2 else ANSWER) as fake:
        yield fake


def _workspace():
    videos = [
        SimpleNamespace(frames=tuple(Image.new("RGB", (56, 56), (v * 80, i, 0)) for i in range(16)),
                        frame_indices=tuple(range(16)))
        for v in range(2)
    ]
    return VideoPairWorkspace(prompt="A blue square moves up.", videos=tuple(videos))


def test_episode_over_http(server):
    policy = OpenAIPolicy(server.url, "judge")
    cfg = EpisodeConfig(frames_per_video=16)
    [t] = run_episodes([EpisodeJob("p", _workspace())], policy, VideoPreferenceTask(), [SelectFrames()], cfg)
    assert t.end_reason == "answered" and t.tool_calls == 1
    assert t.judgment == {"TA": "A", "VQ": "A", "MQ": "B", "Overall": "A"}
    first, second = server.received
    urls = [c["image_url"]["url"] for m in second["messages"] if isinstance(m["content"], list)
            for c in m["content"] if c["type"] == "image_url"]
    assert len(urls) == 8 + 2 and all(u.startswith("data:image/png;base64,") for u in urls)
    assert "<tools>" in first["messages"][0]["content"]


def test_server_errors_are_clear(server):
    policy = OpenAIPolicy(server.url, "broken")
    with pytest.raises(OpenAIEndpointError, match="HTTP 500"):
        run_episodes([EpisodeJob("p", _workspace())], policy, VideoPreferenceTask(), [SelectFrames()],
                     EpisodeConfig(frames_per_video=16))
    with pytest.raises(OpenAIEndpointError, match="cannot reach"):
        OpenAIPolicy("http://127.0.0.1:9/v1", "x", timeout_s=2).generate(
            [__import__("vrthinker.episode", fromlist=["GenerationRequest"]).GenerationRequest((), (), 4)])
