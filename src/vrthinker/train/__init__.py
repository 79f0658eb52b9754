"""Training: segment collation and the SFT / rejection-sampling / GRPO loops."""
