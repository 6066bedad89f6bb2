"""Foundations: errors, files, the run folder's layout, console output, seeds, statistics, Markdown, stage records, memory estimates. They import nothing above them."""
