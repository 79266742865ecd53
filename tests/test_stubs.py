"""The adapters' type stubs (``multiloss/<adapter>.pyi``): current with the registry,
and read by a type checker so that a misspelt keyword in a user's call is an error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.cross_framework  # imports all four adapters

ROOT = Path(__file__).resolve().parent.parent

#: A user's script: each call has a misspelt keyword (line number -> the wrong name).
WRONG = {
    8: "gama",
    9: "label_smothing",
    10: "alpah",
    11: "reduce",
    12: "gama",
    13: "were",
    14: "temprature",
}
SCRIPT = textwrap.dedent("""\
    import numpy as np
    import multiloss.jax as mj
    import multiloss.keras as mk
    import multiloss.tensorflow as mtf
    import multiloss.torch as mt

    x, y = np.zeros((2, 3), np.float32), np.array([0, 1])
    mt.sigmoid_focal_loss(x, y, gama=2.0)
    mj.cross_entropy(x, y, label_smothing=0.1)
    mtf.softmax_focal_loss(x, y, alpah=0.25)
    mk.cross_entropy(y, x, reduce="sum")
    mk.SigmoidFocalLoss(gama=3.0)
    mt.CrossEntropy(label_smoothing=0.1)(x, y, were=None)
    mj.DynamicTaskPriority(2, temprature=1.0)
""")
#: The same calls spelt right, and the forms a user writes: no error.
RIGHT = textwrap.dedent("""\
    import numpy as np
    import multiloss.jax as mj
    import multiloss.keras as mk
    import multiloss.tensorflow as mtf
    import multiloss.torch as mt

    x, y = np.zeros((2, 3), np.float32), np.array([0, 1])
    mt.sigmoid_focal_loss(x, y, gamma=2.0, reduction="sum")
    mj.cross_entropy(y_pred=x, y_true=y, label_smoothing=0.1)
    mtf.softmax_focal_loss(x, y, alpha=0.25)
    mk.cross_entropy(y, x, reduction="sum")
    mk.SigmoidFocalLoss(gamma=3.0, name="focal")
    mt.CrossEntropy(label_smoothing=0.1)(x, y, where=None)
    state = mj.DynamicTaskPriority(2, gamma=1.0).init()
    mk.UncertaintyWeighting(2, name="weights")
    mk.LinearCrossEntropyHead
    with mj.data_parallel("batch"):
        pass
""")


def test_stubs_are_current():
    from multiloss import _stubs

    assert _stubs.main(["--check"]) == 0, "run: python -m multiloss._stubs"


def _mypy(tmp_path: Path, source: str) -> list[str]:
    """mypy's errors for ``source`` as a user's file (multiloss found as installed:
    errors inside it are not the user's; the frameworks are not analysed)."""
    api = pytest.importorskip("mypy.api")
    (tmp_path / "script.py").write_text(source)
    (tmp_path / "mypy.ini").write_text(textwrap.dedent(f"""\
        [mypy]
        mypy_path = {ROOT}
        cache_dir = {tmp_path / ".mypy_cache"}
        [mypy-multiloss.*]
        ignore_errors = True
        [mypy-torch.*,jax.*,tensorflow.*,keras.*,optax.*]
        follow_imports = skip
        ignore_missing_imports = True
    """))
    stdout, _, _ = api.run(["--config-file", str(tmp_path / "mypy.ini"), str(tmp_path / "script.py")])
    return [line for line in stdout.splitlines() if ": error:" in line]


def test_type_checker_flags_a_misspelt_keyword_in_every_adapter(tmp_path):
    errors = _mypy(tmp_path, SCRIPT)
    for line, name in WRONG.items():
        hits = [e for e in errors if f"script.py:{line}:" in e]
        assert hits and f'Unexpected keyword argument "{name}"' in hits[0], (line, name, errors)
    assert len(errors) == len(WRONG), errors


def test_type_checker_accepts_correct_calls(tmp_path):
    assert _mypy(tmp_path, RIGHT) == []


def test_type_checker_sees_the_keras_head_as_a_public_name(tmp_path):
    """``LinearCrossEntropyHead`` is in the stub's ``__all__`` (a star import gives it)
    and typed: its constructor's keywords are checked."""
    script = textwrap.dedent("""\
        import multiloss.keras as mk
        from multiloss.keras import *

        head = mk.LinearCrossEntropyHead(1000, chunk_size=256, use_bias=True)
        other = LinearCrossEntropyHead(1000, top_k=5)
    """)
    errors = _mypy(tmp_path, script)
    assert errors == [], errors
    broken = script.replace("LinearCrossEntropyHead(1000, top_k", "LinearCrossEntropyHead(top_k")
    errors = _mypy(tmp_path, broken)
    assert any("script.py:5:" in e and "vocabulary_size" in e for e in errors), errors
