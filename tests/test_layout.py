"""The package layout as rules: layered imports, framework-free pure modules, short
functions, the installed packages and where `__main__` blocks may be.

Everything but the import checks reads the sources with `ast` and imports nothing.
"""

import ast
import functools
import importlib.metadata
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
FRAMEWORKS = ("tensorflow", "jax", "keras")
# Beyond the frameworks, `import cxr` must not start the plotting or W&B libraries either.
ALSO_NOT_FOR_IMPORT_CXR = ("matplotlib", "wandb")
# Modules that a child process runs with `python -m` (started by their parent module, not by
# a user), so they keep a `__main__` block outside cxr/cli: module -> the module starting it.
CHILD_PROCESS_MODULES = {
    "cxr.runtime.speed": "cxr.runtime.speed",  # measures in a fresh process of itself
    "cxr.bench.scale_stages": "cxr.bench.scale",
}
BELOW_ALL = -1  # the rank of cxr.configs and cxr_tfds


def _module_name(path: pathlib.Path) -> str:
    """The dotted name a source file is installed as (experiments/ is cxr.configs)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "experiments":
        parts[0:1] = ["cxr", "configs"]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _sources() -> dict[str, pathlib.Path]:
    """Every installed module of cxr and cxr_tfds, by dotted name."""
    files = [p for top in ("cxr", "cxr_tfds", "experiments") for p in (ROOT / top).rglob("*.py")]
    return {_module_name(p): p for p in sorted(files) if "__pycache__" not in p.parts}


@functools.cache
def _tree(name: str) -> ast.Module:
    return ast.parse(_sources()[name].read_text(), filename=str(_sources()[name]))


def _layers() -> list[str]:
    """The layer order, lowest first, as cxr/__init__.py's docstring declares it."""
    doc = ast.get_docstring(_tree("cxr"))
    lines = [
        ln.strip() for ln in doc.splitlines() if re.fullmatch(r"\s*cxr\.\w+( < cxr\.\w+)+", ln)
    ]
    assert len(lines) == 1, "cxr/__init__.py's docstring must hold one 'cxr.a < cxr.b < ...' line"
    return lines[0].split(" < ")


def _rank(module: str, layers: list[str]) -> int | None:
    """The index of `module`'s layer; None when no layer declares it."""
    if module.startswith(("cxr.configs", "cxr_tfds")):
        return BELOW_ALL
    if module == "cxr":  # the façade's eager names come from the lowest layer
        return 0
    if module == "cxr.__main__":  # `python -m cxr` is the cxr command
        module = "cxr.cli"
    for index, layer in enumerate(layers):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def _lazy_names() -> dict[str, str]:
    """cxr's lazily loaded names -> owning module, read from its `_LAZY` table."""
    for node in _tree("cxr").body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_LAZY":
            return ast.literal_eval(node.value)
    return {}


def _imports(importer: str):
    """(line, module) of every import in `importer`, at module level or in a function."""
    package = (
        importer if _sources()[importer].name == "__init__.py" else importer.rpartition(".")[0]
    )
    for node in ast.walk(_tree(importer)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importer's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in _sources():
                    yield node.lineno, full
                elif base == "cxr" and alias.name in _lazy_names():
                    yield node.lineno, _lazy_names()[alias.name]
                else:
                    yield node.lineno, base


def _ours(module: str) -> bool:
    return module.split(".")[0] in ("cxr", "cxr_tfds")


def test_every_module_imports_only_its_layer_and_lower_ones():
    layers = _layers()
    problems = []
    for importer in _sources():
        own = _rank(importer, layers)
        if own is None:
            problems.append(f"{importer}: in no layer of cxr/__init__.py's docstring")
            continue
        for line, target in _imports(importer):
            if not _ours(target):
                continue
            where = f"{_sources()[importer].relative_to(ROOT)}:{line}"
            if importer.startswith("cxr_tfds") and not target.startswith("cxr_tfds"):
                problems.append(
                    f"{where}: cxr_tfds imports {target}; it must import nothing of cxr"
                )
            elif _rank(target, layers) is None:
                problems.append(f"{where}: imports {target}, which is in no layer")
            elif _rank(target, layers) > own:
                problems.append(f"{where}: {importer} imports {target}, a higher layer")
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_import_checker_sees_imports_inside_functions_and_relative_ones(monkeypatch):
    code = "def f():\n    from cxr.cli import main\n\nfrom . import augment\n"
    monkeypatch.setitem(_sources(), "cxr.data.probe", ROOT / "cxr" / "data" / "probe.py")
    real_tree = _tree
    fake_tree = lambda name: ast.parse(code) if name == "cxr.data.probe" else real_tree(name)  # noqa: E731
    monkeypatch.setattr(sys.modules[__name__], "_tree", fake_tree)
    assert list(_imports("cxr.data.probe")) == [(4, "cxr.data.augment"), (2, "cxr.cli.main")]
    assert _rank("cxr.cli.main", _layers()) > _rank("cxr.data.probe", _layers())


def test_only_the_command_starts_the_backends():
    # Importing a library module must have no side effect; startup's is the cxr command's.
    importers = {
        n for n in _sources() for _, target in _imports(n) if target == "cxr.runtime.startup"
    }
    assert "cxr.cli.main" in importers and all(n.startswith("cxr.cli.") for n in importers)


def test_the_layers_declared_are_the_subpackages_of_cxr():
    parts = {f"cxr.{p.stem}" for p in (ROOT / "cxr").glob("*.py") if p.stem[:2] != "__"}
    parts |= {f"cxr.{p.parent.name}" for p in (ROOT / "cxr").glob("*/__init__.py")}
    assert sorted(_layers()) == sorted(parts)


def test_lazy_names_of_cxr_are_defined_by_their_modules():
    for name, module in _lazy_names().items():
        defined = {getattr(node, "name", None) for node in _tree(module).body}  # defs, classes
        assert name in defined, f"cxr.{name}: {module} defines no {name}"


def test_lazy_names_load_from_their_module_and_others_are_errors():
    import cxr
    from cxr.stats import auroc

    assert cxr.macro_auroc is auroc.macro_auroc
    assert {"LABELS", "UserError", "__version__", *_lazy_names()} <= set(dir(cxr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cxr.nope  # noqa: B018


def test_subpackage_inits_are_documented_and_run_nothing():
    for init in sorted((ROOT / "cxr").glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init.relative_to(ROOT)}: no docstring"
        assert len(tree.body) == 1, f"{init.relative_to(ROOT)}: code beyond its docstring"


def _imported_frameworks(statement: str) -> list[str]:
    """The framework modules in sys.modules after `statement`, in a fresh interpreter."""
    probe = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = result.stdout.split()
    return [m for m in loaded if m.split(".")[0] in FRAMEWORKS + ALSO_NOT_FOR_IMPORT_CXR]


def test_import_cxr_starts_no_framework():
    assert _imported_frameworks("import cxr; cxr.LABELS; cxr.__version__") == []


PURE_MODULES = sorted(
    [name for name in _sources() if name.startswith("cxr.stats.")]
    + [
        "cxr.errors",
        "cxr.configs.common",
        "cxr.pipeline.experiment_config",
        "cxr.saliency.localization",
        "cxr.saliency.localization_report",
        "cxr.saliency.pointing",
        "cxr.saliency.map_scores",
        "cxr.saliency.mask_scores",
        "cxr.saliency.registry",
        "cxr.runtime.cluster_env",
        "cxr.tracking.rundir",
        "cxr.tracking.metric_keys",
        "cxr.evaluation.classification",
        "cxr.evaluation.label_reference",
        "cxr.evaluation.rsna_reference",
        "cxr.evaluation.box_reference",
        "cxr.model.backbones",
        "cxr.model.layer_names",
        "cxr_tfds.labels",
        "cxr_tfds.registry",
        "cxr_tfds.label_table",
        "cxr_tfds.cxr14_subset.labels",
        "cxr.pipeline.label_match",
        "cxr_tfds.cxr_vindr.labels",
        "cxr_tfds.cxr_vindr.annotations",
        "cxr_tfds.cxr_vindr.fusion",
        "cxr_tfds.cxr_vindr.splits",
        "cxr_tfds.cxr_vindr.source_dir",
        "cxr_tfds.cxr14_subset.rsna",
        "cxr_tfds.cxr_siim.rle",
        "cxr_tfds.cxr_siim.metadata",
        "cxr_tfds.cxr_siim.labels",
        "cxr_tfds.cxr_siim.source_dir",
        "cxr_tfds.cxr_siim.examples",
        "cxr_tfds.dicom",
        "cxr_tfds.cxr14_subset.rsna_counts",
    ]
)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_framework(module):
    loaded = _imported_frameworks(f"import {module}")
    assert [m for m in loaded if m.split(".")[0] in FRAMEWORKS] == []


def _long_functions() -> list[str]:
    """'path:line name: N lines' of every function in cxr/, cxr_tfds/ and experiments/ over the limit."""
    offenders = []
    for name, path in _sources().items():
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    offenders.append(f"{where} {node.name}: {length} lines")
    return offenders


def test_no_function_is_longer_than_60_lines():
    offenders = _long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def _package_dirs() -> set[str]:
    found = {_module_name(p) for p in ROOT.glob("cxr/**/__init__.py")}
    found |= {_module_name(p) for p in ROOT.glob("cxr_tfds/**/__init__.py")}
    return found | {"cxr.configs"}


def test_pyproject_lists_exactly_the_package_folders():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(setuptools["packages"]) == sorted(_package_dirs())
    assert setuptools["package-dir"] == {"cxr.configs": "experiments"}


def test_only_cxr_and_cxr_tfds_are_installed_top_level():
    top_level = importlib.metadata.distribution("cxr").read_text("top_level.txt") or ""
    assert sorted(top_level.split()) == ["cxr", "cxr_tfds"]
    probe = (
        "import importlib.util as u\n"
        "print(u.find_spec('experiments'), u.find_spec('cxr.configs').origin)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd="/tmp"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["None", str(ROOT / "experiments" / "__init__.py")]


def _has_main_block(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) for node in tree.body
    )


def _started_with_dash_m(module: str, parent: str) -> bool:
    """Whether `parent` builds a command line `[..., "-m", module, ...]`."""
    for node in ast.walk(_tree(parent)):
        if isinstance(node, ast.List):
            values = [getattr(e, "value", None) for e in node.elts]
            if any(a == "-m" and b == module for a, b in zip(values, values[1:], strict=False)):
                return True
    return False


def test_main_blocks_only_in_the_command_and_child_process_modules():
    allowed = {"cxr.__main__", *CHILD_PROCESS_MODULES}
    blocks = {n for n in _sources() if n.startswith("cxr.") and _has_main_block(_tree(n))}
    stray = sorted(n for n in blocks - allowed if not n.startswith("cxr.cli."))
    assert not stray, f"`if __name__ == '__main__'` outside cxr/cli (use `cxr <sub>`): {stray}"
    for module, parent in CHILD_PROCESS_MODULES.items():
        assert module in blocks, f"{module} has no __main__ block: drop its exception here"
        assert _started_with_dash_m(module, parent), f"{parent} no longer runs {module}"


@pytest.mark.xdist_group("grouping_check")
def test_xdist_groups_take_effect(request):
    """`make test` keeps the tests of one `xdist_group` (a shared smoke run, the
    multi-device runs) on one worker. pytest-xdist 3.8 marks them by editing a node id,
    which pytest 9 ignores: the groups then split silently, shared runs happen once per
    worker and the multi-device runs overlap (hence pytest < 9)."""
    if not request.config.getoption("loadgroup", default=False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping_check")


def test_no_two_test_files_share_a_name():
    """Test folders have no __init__.py, so pytest imports each test file by its base name:
    two files of one name in two folders stop the whole suite at collection."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
