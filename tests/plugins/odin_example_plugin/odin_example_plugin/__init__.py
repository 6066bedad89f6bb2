"""An Odin plugin as a third party writes it: an encoder with options, a command, a lifecycle hook."""

import click
from pydantic import BaseModel

import odin_core


class EdgeListOptions(BaseModel):
    separator: str = " | "


class EdgeListEncoder:
    """Hyperedges as vertex lists separated by a configurable separator."""

    order = "high"

    def __init__(self, options):
        self.separator = options.separator

    def encode(self, graph, name="G"):
        edges = self.separator.join(
            f"e{i}: " + " ".join(graph.names[v] for v in edge) for i, edge in enumerate(graph.edges)
        )
        return f"{name} has {graph.num_vertices} vertices and these hyperedges: {edges}."


@odin_core.hookimpl
def register_encoders(register):
    register("example.edge_list", EdgeListEncoder, options=EdgeListOptions)


@odin_core.hookimpl
def register_commands(cli):
    @cli.command(name="example-hello")
    def hello():
        """Say hello from the example plugin."""
        click.echo("hello from odin-example-plugin")
