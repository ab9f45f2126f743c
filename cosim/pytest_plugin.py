"""The pytest plugin under its documented name, `pytest -p cosim.pytest_plugin` (cosim.verify)."""

from cosim.verify.pytest_plugin import (
    check_regression,
    describe_result,
    pytest_addoption,
    pytest_collect_file,
    regression_cases,
)

__all__ = [
    "check_regression",
    "describe_result",
    "pytest_addoption",
    "pytest_collect_file",
    "regression_cases",
]
