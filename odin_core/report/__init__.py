"""Reports: ``report.md`` with intervals and paired tests, plots, and comparisons of several runs."""

from odin_core.report.compare import compare_runs, render_comparison
from odin_core.report.failures import worst_failures
from odin_core.report.plots import plot_comparison
from odin_core.report.render import comparisons, render_report, stages_of, write_report
from odin_core.report.tables import load_metrics

__all__ = ["compare_runs", "render_comparison", "plot_comparison", "worst_failures", "comparisons", "render_report", "stages_of",
           "write_report", "load_metrics"]
