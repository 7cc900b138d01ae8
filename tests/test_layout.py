"""The package's layering, read from the source: imports flow one way and never in a circle.

The rule: frontalize's packages stand in layers, from the bottom (utilities) to the top (command lines
and benchmarks).  A module may import its own package and any package of a LOWER layer, never one of its
own layer or above.  So the data layer knows nothing of models, the recognizer nothing of the GAN's
training loop, and only ``pipeline``, ``cli`` and ``bench`` put the pieces together.  Every import
statement counts, also those inside functions.  And no chain of imports between modules comes back to
where it started.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "frontalize"

LAYERS = [
    {"utils", "registry"},  # atomic files, the component registry
    {"config", "face"},  # the GAN's typed configuration; face detection (MTCNN)
    {"data"},  # Multi-PIE conventions, images, alignment, manifests, sampling
    {"synthpie"},  # the synthetic dataset
    {"geometry"},  # the 3D reference face, pose from landmarks, the frontal warp
    {"preparation"},  # preparing a Multi-PIE tree: landmarks, crops, poses, manifests
    {"models", "losses", "runs"},  # networks; loss terms; run folders, checkpoints, tracking, torchrun
    {"evaluation"},  # identification by pose, image quality, the report's files
    {"recognition"},  # the shared recognizer and its trainer
    {"training", "inference"},  # the GAN's training loop; frontalizing photos
    {"pairs"},  # training pairs rendered from single photographs (detects as inference does)
    {"pipeline"},  # the steps put together: prepared data, recognizer, GAN launch, report, demo
    {"cli", "bench"},  # argument parsing; benchmarks
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """frontalize modules imported anywhere in the file (a `from package import module` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("frontalize")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("frontalize"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m in known and m != "frontalize"}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_every_package_has_a_layer():
    packages = {_package(m) for m in _modules() if _package(m)}
    assert packages <= set(LAYER_OF), f"give these packages a layer in LAYERS: {sorted(packages - set(LAYER_OF))}"


def test_imports_only_go_down_the_layers():
    wrong = []
    for module, imported in _graph().items():
        mine = _package(module)
        for other in imported:
            theirs = _package(other)
            if theirs != mine and LAYER_OF.get(theirs, -1) >= LAYER_OF.get(mine, -1):
                wrong.append(f"{module} imports {other} ({mine!r} is layer {LAYER_OF.get(mine)}, {theirs!r} layer {LAYER_OF.get(theirs)})")
    assert not wrong, "imports against the layering (a module may only import lower layers):\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other in a circle: {cycles}"


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """A recognition module importing the GAN trainer, and two modules importing each other, are caught."""
    import shutil

    fake = tmp_path / "frontalize"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    (fake / "recognition" / "sneaky.py").write_text("from frontalize.training.trainer import Trainer\n")
    (fake / "data" / "a.py").write_text("import frontalize.data.b\n")
    (fake / "data" / "b.py").write_text("def f():\n    from frontalize.data import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    import pytest

    with pytest.raises(AssertionError, match="frontalize.recognition.sneaky imports frontalize.training.trainer"):
        test_imports_only_go_down_the_layers()
    with pytest.raises(AssertionError, match="frontalize.data.a"):
        test_no_import_cycles()
