"""The plugin interface: hook specifications, component protocols and the registry."""
