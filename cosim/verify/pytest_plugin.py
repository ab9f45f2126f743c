"""pytest integration: every system with a `regression:` section becomes one pytest test.

Two ways to use it (see docs/regression.md):

1. As a plugin, collecting YAML files from the paths given to pytest::

       pytest -p cosim.verify.pytest_plugin systems/              # one item per regression system
       pytest -p cosim.verify.pytest_plugin systems/ --cosim-update   # rewrite the references

   (or ``pytest_plugins = ["cosim.verify.pytest_plugin"]`` in a top-level conftest.py).

2. As a helper in your own test module, without the plugin::

       from cosim.verify.pytest_plugin import check_regression, regression_cases

       @pytest.mark.parametrize("case", regression_cases("systems"))
       def test_regression(case, tmp_path):
           check_regression(case, tmp_path)

Each test runs the system in the pytest process (use pytest-xdist's ``-n`` to spread them over
processes) and fails with the failing signals and their largest deviations.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cosim.errors import ConfigError
from cosim.verify.regression import (
    ERROR,
    FAIL,
    YAML_SUFFIXES,
    CaseResult,
    RegressionCase,
    has_regression_section,
    load_case,
    load_cases,
    run_case,
)


# --------------------------------------------------------------------------- helpers
def regression_cases(*paths: str | os.PathLike[str], update: bool = False) -> list[Any]:
    """pytest.param(case, id=<system>) for every regression system under `paths`.

    Paths are files or folders (searched recursively), relative to the current directory;
    default "systems". A broken YAML or regression section raises ConfigError at collection.
    """
    cases = load_cases(paths or ("systems",), update=update)
    return [pytest.param(c, id=c.id) for c in cases]


def describe_result(result: CaseResult) -> str:
    """A readable account of a case: failing signals with deviations, or the error."""
    from cosim.verify.junit import failure_details, failure_message

    if result.status == ERROR:
        return f"{result.id} ({result.path}): {result.message}"
    if result.status == FAIL:
        return f"{result.id} ({result.path}): {failure_message(result)}\n{failure_details(result)}"
    if result.changes:
        lines = [f"{result.id}: reference {result.status}"]
        for c in result.changes:
            dev = (
                f", max |dev| {c.max_deviation:.4g} {c.unit}".rstrip()
                if c.status == "changed"
                else ""
            )
            lines.append(f"  {c.name}: {c.status}{dev}")
        return "\n".join(lines)
    return f"{result.id}: {result.status}"


def check_regression(
    case: RegressionCase, work_dir: str | os.PathLike[str] | None = None, update: bool = False
) -> CaseResult:
    """Run one case (in this process) and pytest.fail with the failing signals if it fails.

    work_dir receives results.h5 (a temporary folder when None). Returns the CaseResult.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="cosim-test-") as tmp:
            result = run_case(case, tmp, update)
    else:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        result = run_case(case, work_dir, update)
    if not result.passed:
        pytest.fail(describe_result(result), pytrace=False)
    return result


# --------------------------------------------------------------------------- plugin hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cosim", "cosim regression systems")
    group.addoption(
        "--cosim-update",
        action="store_true",
        default=False,
        help="rewrite the references of the collected regression systems instead of comparing",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in YAML_SUFFIXES and has_regression_section(file_path):
        return RegressionFile.from_parent(parent, path=file_path)
    return None


class RegressionFile(pytest.File):
    """A system YAML file with a `regression:` section: it holds one RegressionItem."""

    def collect(self) -> Iterator[pytest.Item]:
        update = bool(self.config.getoption("cosim_update", False))
        try:
            case = load_case(self.path, update=update)
        except ConfigError as err:  # reported when the item runs, with every problem
            yield RegressionItem.from_parent(self, name=self.path.stem, case=None, error=err)
            return
        yield RegressionItem.from_parent(self, name=case.name, case=case, error=None)


class RegressionItem(pytest.Item):
    """One regression system: run it, compare with its reference (or update the reference)."""

    def __init__(
        self, *, case: RegressionCase | None, error: ConfigError | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.error = error

    def runtest(self) -> None:
        if self.error is not None:
            pytest.fail(f"{self.path}: bad regression input\n{self.error}", pytrace=False)
        assert self.case is not None
        update = bool(self.config.getoption("cosim_update", False))
        result = check_regression(self.case, None, update)
        self.add_report_section("call", "cosim", describe_result(result))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"cosim regression: {self.name}"


__all__ = ["check_regression", "describe_result", "regression_cases"]
