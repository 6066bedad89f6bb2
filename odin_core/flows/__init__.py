"""Flows: what a command does from start to end (run a recipe, evaluate a saved run, export), in named steps."""
