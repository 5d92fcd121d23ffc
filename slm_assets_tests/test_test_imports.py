"""Where test code may be imported from: tests share helpers and fakes, never each other's modules; the benchmarks
and the package never import the tests; only tests and benchmarks use the package's test doubles."""

import ast
from pathlib import Path

from slm_assets.settings import PROJECT_ROOT


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def offenders(folder: str, bad) -> list[str]:
    return sorted(f"{path.relative_to(PROJECT_ROOT)}: {module}" for path in (PROJECT_ROOT / folder).rglob("*.py")
                  for module in imported_modules(path) if bad(module))


def _is_test_module(module: str) -> bool:
    return module.startswith("slm_assets_tests") and (
        module.rsplit(".", 1)[-1].startswith("test_") or module.endswith(".conftest"))


def test_no_test_imports_another_test_module_or_a_conftest():
    assert offenders("slm_assets_tests", _is_test_module) == []


def test_bench_and_the_package_import_no_test_code():
    assert offenders("bench", lambda m: m.startswith("slm_assets_tests")) == []
    assert offenders("slm_assets", lambda m: m.startswith("slm_assets_tests")) == []


def test_only_the_test_doubles_themselves_use_slm_assets_testing_inside_the_package():
    uses = offenders("slm_assets", lambda m: m.startswith("slm_assets.testing"))
    assert [u for u in uses if not u.startswith("slm_assets/testing/")] == []
