"""Evaluation harness: datasets, a resumable log-first runner, metrics, plots, reports, exports."""
