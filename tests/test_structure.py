"""The layout the codebase promises: framework knowledge only in the ops layer, family
files as leaves, the registry telling tensors from static arguments, and the
TensorFlow dtype-rule switch confined to the calling thread."""

from __future__ import annotations

import ast
import pathlib
import threading

import pytest

from multiloss import core
from multiloss.core.ops import KerasFunction, Ops, get_ops

CORE = pathlib.Path(core.__file__).parent
PACKAGE = CORE.parent
FRAMEWORK_MODULES = ("torch", "jax", "jaxlib", "tensorflow", "keras", "optax")


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _core_files() -> list[pathlib.Path]:
    return [p for p in CORE.glob("*.py") if p.name != "__init__.py"]


def _family_files() -> set[str]:
    """Modules that register losses (``@register``)."""
    return {p.stem for p in _core_files() if "@register" in p.read_text()}


def test_family_files_import_no_other_family():
    families = _family_files()
    assert {"crossentropy", "focal", "poly", "divergence", "sampled"} <= families
    for path in _core_files():
        imported = {m.rsplit(".", 1)[-1] for m in _imports(path) if m.startswith("multiloss.core.")}
        wrong = sorted((imported & families) - {path.stem})
        assert not wrong, f"multiloss/core/{path.name} imports the family file(s) {wrong}"


def test_core_outside_the_ops_layer_knows_no_framework():
    for path in _core_files():
        frameworks = sorted(
            m for m in _imports(path) if m.split(".")[0] in FRAMEWORK_MODULES
        )
        assert not frameworks, f"multiloss/core/{path.name} imports {frameworks}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("name", "framework"):
                if isinstance(node.value, ast.Name) and node.value.id == "ops":
                    pytest.fail(f"multiloss/core/{path.name} branches on ops.{node.attr}")


def test_only_the_ops_layer_imports_keras_src():
    for path in PACKAGE.rglob("*.py"):
        if CORE / "ops" in path.parents:
            continue
        private = sorted(m for m in _imports(path) if m.startswith("keras.src"))
        assert not private, f"{path.relative_to(PACKAGE.parent)} imports {private}"
        assert "keras.src" not in path.read_text(), f"{path.relative_to(PACKAGE.parent)} uses keras.src"


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_no_op_is_patched_onto_an_ops_object(framework):
    ops = get_ops(framework)
    declared = {name for name in dir(Ops) if isinstance(getattr(Ops, name), KerasFunction)}
    assert {"exp", "log_softmax", "where", "take_along_axis"} <= declared
    patched = sorted(set(vars(ops)) & (declared | set(dir(Ops))))
    assert not patched, f"{type(ops).__name__} instance carries {patched}"
    assert type(ops).__module__.startswith("multiloss.core.ops.")


def test_registry_tells_tensors_from_static_arguments():
    sampled = core.get_spec("sampled_softmax_loss")
    assert sampled.arguments[-2:] == ("num_sampled", "num_classes")
    assert sampled.static == ("num_sampled", "num_classes")
    assert sampled.tensors == ("weights", "biases", "labels", "inputs")
    assert core.get_spec("nce_loss").static == ("num_sampled", "num_classes")
    sampler = core.get_spec("log_uniform_candidate_sampler")
    assert sampler.tensors == ("true_classes",)
    assert sampler.static == ("num_true", "num_sampled", "unique", "range_max")
    assert core.get_spec("cross_entropy").static == ()


@pytest.mark.cross_framework
def test_tensorflow_dtype_rules_stay_in_the_calling_thread():
    import keras

    if keras.config.backend() == "tensorflow":
        pytest.skip("Keras keeps 64-bit types under its tensorflow backend: nothing switches")
    from keras.src.backend.common import dtypes

    ops = get_ops("tensorflow")
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def step(ops_):
        seen["inside"] = dtypes.result_type("float64", "float32")
        inside.set()
        release.wait(30)
        return None

    worker = threading.Thread(target=ops.run, args=(step, (), {}))
    worker.start()
    try:
        assert inside.wait(30)
        # Keras code in this thread keeps its own (32-bit) rules meanwhile.
        seen["other"] = dtypes.result_type("float64", "float32")
    finally:
        release.set()
        worker.join(30)
    assert seen == {"inside": "float64", "other": "float32"}
    assert dtypes.result_type("float64", "float32") == "float32"


def _verify_imports(path: pathlib.Path) -> set[str]:
    """The :mod:`multiloss.verify` modules ``path`` imports (absolute or relative)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:  # from . import x / from .x import y
            module = node.module or ""
            names.update([module.split(".")[0]] if module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "multiloss.verify":
                names.update(alias.name for alias in node.names)
            elif node.module.startswith("multiloss.verify."):
                names.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[2] for a in node.names
                         if a.name.startswith("multiloss.verify."))
    return names


def test_verify_modules_import_only_downwards():
    """Each module of multiloss/verify imports verify modules of lower layers only
    (``multiloss.verify.LAYERS``, drawn in the package docstring), and is in a layer."""
    from multiloss import verify

    layer = {name: i for i, names in enumerate(verify.LAYERS) for name in names}
    folder = PACKAGE / "verify"
    modules = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    assert modules == set(layer), f"modules not in verify.LAYERS: {sorted(modules ^ set(layer))}"
    for name in sorted(modules):
        upward = sorted(m for m in _verify_imports(folder / f"{name}.py") if layer[m] >= layer[name])
        assert not upward, f"multiloss/verify/{name}.py imports {upward} (same layer or above)"


def test_the_library_does_not_depend_on_its_verification_tooling():
    """Only the package's lazy ``multiloss.compare`` and ``python -m multiloss`` reach into
    multiloss/verify; the losses, the ops layer and the adapters do not."""
    allowed = {PACKAGE / "__init__.py", PACKAGE / "__main__.py"}
    for path in PACKAGE.rglob("*.py"):
        if PACKAGE / "verify" in path.parents or path in allowed:
            continue
        used = sorted(m for m in _imports(path) if m.startswith("multiloss.verify"))
        assert not used, f"{path.relative_to(PACKAGE.parent)} imports {used}"
