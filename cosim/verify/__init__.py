"""Verification: comparison, reports, plots, regression suites, JUnit, pytest plugin."""
