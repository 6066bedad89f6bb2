"""Odin's built-in hypergraph data plugin: sources, the seven LLM4Hypergraph encodings, and the task suite.

Registered through the same hooks a third-party plugin uses. Importing this
module is cheap: hypernetx, pandas and the task generators are imported only
when a source runs or the task hook is called.
"""

from __future__ import annotations

import odin_core
from odin_hypernetx import files, sources
from odin_hypernetx.encoders import ENCODERS

SOURCES = {
    "hypernetx.synthetic": (sources.SyntheticSource, sources.SyntheticOptions),
    "hypernetx.random": (sources.RandomSource, sources.RandomOptions),
    "hypernetx.structures": (sources.StructuresSource, sources.StructuresOptions),
    "hypernetx.hif": (files.HifSource, files.HifOptions),
    "hypernetx.edgelist": (files.EdgeListSource, files.EdgeListOptions),
    "hypernetx.benson": (files.BensonSource, files.BensonOptions),
    "hypernetx.lesmis": (sources.LesMisSource, sources.LesMisOptions),
    "hypernetx.harry_potter": (sources.HarryPotterSource, sources.HarryPotterOptions),
    "hypernetx.disease_gene": (sources.DiseaseGeneSource, sources.DiseaseGeneOptions),
    "hypernetx.sample": (sources.SampleSource, sources.SampleOptions),
}


@odin_core.hookimpl
def register_sources(register):
    for name, (factory, options) in SOURCES.items():
        register(name, factory, options=options)


@odin_core.hookimpl
def register_encoders(register):
    for name, factory in ENCODERS.items():
        register(name, factory)


@odin_core.hookimpl
def register_tasks(register):
    from odin_hypernetx.tasks import TASKS, WITH_HARD_NEGATIVES, TaskOptions

    for name, factory in TASKS.items():
        options = TaskOptions if name in WITH_HARD_NEGATIVES else None
        register(f"hypernetx.{name}", factory, options=options, aliases=(name,))  # bare names: earlier releases
