"""Policy backends and models.

- ``hf.HFPolicy``: transformers ``generate``, batched, CPU or GPU.
- ``openai_http.OpenAIPolicy``: any OpenAI-compatible chat-completions server (``vllm serve``, APIs).
- ``scripted.ReplayPolicy``: fixed or computed texts (tests, teachers).
- ``models.load_model``: ``tiny`` presets built offline, or Qwen2.5-VL / Qwen3-VL checkpoints.
- ``render``: the single rendering of a turn's context, shared by rollout and training.
- ``judge.Judge``: a policy plus episode settings applied to preference pairs.

Submodules are imported on use so that ``import vrthinker.policy`` stays light.
"""
