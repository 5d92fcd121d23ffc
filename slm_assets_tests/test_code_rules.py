"""The code rules of STYLE.md that a machine can check, read from the source with `ast`: imports run one way
(stage packages never import Dagster or `defs/`; evaluation never imports a later or sideways stage: export,
synth, train or serve), assets only orchestrate (at most 40 lines), and every function is short (at most 80
lines)."""

import ast
from pathlib import Path

from slm_assets.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "slm_assets"
STAGES = ("ingest", "process", "synth", "train", "evaluate", "export", "serve", "retrieval")
ASSET_DECORATORS = {"asset", "multi_asset"}
MAX_ASSET_LINES = 40
MAX_FUNCTION_LINES = 80

# empty: every asset and function keeps to the limits (gguf_export was the last, split with the registry work)
ALLOWED_LONG_ASSETS: set[str] = set()
ALLOWED_LONG_FUNCTIONS: set[str] = set()


def modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path.relative_to(PROJECT_ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imports(tree: ast.AST) -> set[str]:
    """Every module an import statement names, at any depth (imports inside functions count)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, node.end_lineno - node.lineno + 1  # from `def` to the last line of the body


def is_asset(function: ast.FunctionDef) -> bool:
    """Decorated with dg.asset / asset / dg.multi_asset / multi_asset, called with arguments or not."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name in ASSET_DECORATORS:
            return True
    return False


def test_stage_packages_import_neither_dagster_nor_defs():
    # dagster_pipes (the child side of Pipes, in train/*_job.py) is its own small package, not Dagster
    bad = [f"{path}: {name}" for stage in STAGES for path, tree in modules(PACKAGE / stage)
           for name in imports(tree) if within(name, "dagster", "slm_assets.defs")]
    assert bad == []


def test_evaluation_imports_no_later_or_sideways_stage():
    bad = [f"{path}: {name}" for path, tree in modules(PACKAGE / "evaluate") for name in imports(tree)
           if within(name, "slm_assets.export", "slm_assets.synth", "slm_assets.train", "slm_assets.serve")]
    assert bad == []


def test_assets_only_orchestrate():
    long = {f"{path}:{f.name}": n for path, tree in modules(PACKAGE) for f, n in functions(tree)
            if is_asset(f) and n > MAX_ASSET_LINES}
    assert set(long) - ALLOWED_LONG_ASSETS == set(), long


def test_every_function_is_short():
    long = {f"{path}:{f.name}": n for path, tree in modules(PACKAGE) for f, n in functions(tree)
            if n > MAX_FUNCTION_LINES}
    assert set(long) - ALLOWED_LONG_FUNCTIONS == set(), long


def test_the_rules_see_what_they_check():
    # a rule that finds nothing to look at passes vacuously: the asset decorators and stage folders must be seen
    assets = [f.name for _, tree in modules(PACKAGE / "defs") for f, _ in functions(tree) if is_asset(f)]
    assert {"raw_docs", "clean_chunks", "synthetic_qa_5000", "sft_dataset", "benchmark_report",
            "gguf_export"} <= set(assets)
    assert all((PACKAGE / stage / "__init__.py").is_file() for stage in STAGES)
    assert within("dagster.components", "dagster") and not within("dagster_pipes", "dagster")
