"""Odin built-in plugin (being written)."""
