"""Experiments (GRPO, GPG, focal, thinking quality) as verl trainer configs, and their entry points."""
