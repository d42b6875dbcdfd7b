"""The inspector's tools for verl's multi-turn tool agent loop: zoom into the query image, ask for a normal one."""
