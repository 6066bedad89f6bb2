"""A plugin whose import fails, as a buggy third-party release would."""

raise RuntimeError("odin-broken-plugin: simulated import failure")
