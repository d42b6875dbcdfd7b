"""Reward functions of the three papers (format, accuracy, focal, thinking quality) and the judge client."""
