"""Reports of benchmark runs: a markdown document and PNG plots (Matplotlib, Agg backend)."""

from ratecraft.report.markdown import inputs_table, render_report
from ratecraft.report.plots import plot_rate_distortion, plot_ratios, plot_trace

__all__ = ["inputs_table", "plot_rate_distortion", "plot_ratios", "plot_trace", "render_report"]
