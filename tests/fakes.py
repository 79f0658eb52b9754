"""Small in-memory stand-ins shared by tests (importable as ``fakes`` from any test)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Callable, Iterator

from PIL import Image

from vrthinker.episode.workspace import VideoPairWorkspace


def fake_workspace(
    frames_per_video: int = 48, size: int = 56, addressing: str = "pooled", labels: str = "frame_first"
) -> VideoPairWorkspace:
    """Two in-memory frame pools; frame i of video v has a distinct colour."""
    videos = []
    for v in range(2):
        frames = tuple(Image.new("RGB", (size, size), (v * 100, i * 5 % 256, 7)) for i in range(frames_per_video))
        videos.append(SimpleNamespace(frames=frames, frame_indices=tuple(range(frames_per_video))))
    return VideoPairWorkspace(prompt="A red circle moves left to right.", videos=tuple(videos), addressing=addressing,
                              labels=labels)


LABEL_CODE = {"A": "1", "B": "2", "tie": "0"}


def make_label_traces(directory, num_pairs: int = 8, seed: int = 0):
    """Single-turn traces answering each pair's labels, on a tiny synthetic suite (8 frames, 56 px).

    The thought is the prompt, so completions differ in length and the loss normalisation matters.
    """
    from pathlib import Path

    from vrthinker.data import read_pairs
    from vrthinker.data.synthetic import generate_suite
    from vrthinker.episode import EpisodeConfig
    from vrthinker.episode.traces import append_traces
    from vrthinker.policy.judge import Judge
    from vrthinker.policy.scripted import ReplayPolicy

    directory = Path(directory)
    pairs = read_pairs(
        generate_suite(
            directory / "suite", num_pairs=num_pairs, seed=seed, num_frames=8, size=56,
            show_progress=False, workers=0, initial_view_frames=1,
        )  # fmt: skip
    )
    scripts = {}
    for p in pairs:
        dims = "".join(f"{d}: {LABEL_CODE[p.labels[d]]}\n" for d in ("TA", "VQ", "MQ", "Overall"))
        scripts[p.pair_id] = [f"<think>{p.prompt}</think><answer>\n{dims}</answer>"]
    config = EpisodeConfig(frames_per_video=8, initial_per_video=1, min_pixels=28 * 28, max_pixels=56 * 56, max_tool_calls=0)
    path = directory / "traces.jsonl"
    append_traces(path, Judge(ReplayPolicy(scripts), config).judge_pairs(pairs))
    return path


@contextmanager
def openai_server(reply: Callable[[dict], str]) -> Iterator[SimpleNamespace]:
    """A local OpenAI-compatible chat-completions server (real HTTP on 127.0.0.1) answering ``reply(body)``.

    Model ``"broken"`` gets HTTP 500. Yields ``url`` (the ``/v1`` base) and ``received`` (request bodies).
    """
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            if body["model"] == "broken":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"boom")
                return
            out = {"choices": [{"message": {"content": reply(body)}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 100, "completion_tokens": 20}}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}/v1", received=received)
    finally:
        httpd.shutdown()
