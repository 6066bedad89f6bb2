"""``odin plugins``: installed plugins, their components and hooks, broken plugins and name clashes."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
def plugins(as_json, hook):
    """List installed plugins, their components and hooks, and broken ones."""
    from odin_core.components.plugins import PYTHON_PLUGIN, broken_plugins, plugin_infos, registry

    reg = registry()
    rows = []
    for info in plugin_infos():
        if hook and hook not in info.hooks:
            continue
        components = {}
        for kind, by_name in reg.items():
            names = sorted(n for n, c in by_name.items() if c.plugin == info.name)
            if names:
                components[kind] = names
        if info.name == PYTHON_PLUGIN and not components:
            continue
        rows.append({"name": info.name, "distribution": info.distribution, "version": info.version,
                     "hooks": info.hooks, "components": components})
    broken = [vars(b) for b in broken_plugins()]
    clashes = [{"kind": c.kind, "name": c.name, "plugins": list(c.plugins), "error": c.describe()}
               for c in reg.clashes]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": broken, "clashes": clashes}, indent=2))
        return
    for row in rows:
        dist = f" ({row['distribution']} {row['version']})" if row["distribution"] else ""
        click.echo(f"{row['name']}{dist}")
        click.echo(f"  hooks: {', '.join(row['hooks'])}")
        for kind, names in row["components"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
    for b in broken:
        click.echo(f"BROKEN {b['name']} ({b['distribution']} {b['version']}): {b['error']}")
    for c in clashes:
        click.echo(f"CLASH {c['error']}: recipes naming it fail until one plugin is removed")


COMMANDS = (plugins,)
