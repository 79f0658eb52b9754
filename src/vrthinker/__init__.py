"""vrthinker: thinking-with-image video reward models.

Packages, in dependency order (nothing imports upward; a test enforces it):

- ``files``   (a module) writing a file atomically; every package may use it, it imports none.
- ``video``   PyAV decoding, frame sampling, smart-resize, frame cache, synthetic clips.
- ``data``    the ``PreferencePair`` schema, benchmark loaders, the synthetic suite.
- ``episode`` the thinking-with-image episode engine: protocol, tools, memory window, segments.
- ``policy``  policy backends (HF transformers, OpenAI-compatible HTTP, scripted), tiny model.
- ``train``   collation, SFT / rejection sampling / GRPO loops, checkpoints.
- ``eval``    metrics, benchmark runs, reports.
- ``serve``   the HTTP reward service.
- ``cli``     the ``vrthinker`` command; nothing imports it.
"""

__version__ = "0.1.0"
