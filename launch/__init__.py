"""How processes get started: local launchers for one machine (vLLM server, Ray head), and SLURM scripts."""
