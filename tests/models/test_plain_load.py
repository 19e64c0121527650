"""A saved hpdesc model loads in a fresh interpreter the way docs/training.md tells a plain-Keras user.

The documented way is ``import hpdesc.models`` (it registers every hpdesc layer) and then
``keras.saving.load_model``; ``hpdesc.load_model`` does the same and imports plugins too. One
subprocess loads every built-in Keras model (and the example plugin's, through hpdesc.load_model),
saved under the mixed bfloat16 policy runs train with; both ways must give the numbers the model
gave before it was saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hpdesc

ROOT = Path(hpdesc.__file__).resolve().parent.parent
# every built-in model that is a Keras graph (sift runs OpenCV: not a saved graph), tiny where it has a size
BUILTINS = {
    ("denoiser", "dncnn"): {"depth": 3, "filters": 4},
    ("denoiser", "unet"): {"filters": 4},
    ("denoiser", "unet16"): {},
    ("denoiser", "autoencoder"): {"filters": 4},
    ("denoiser", "identity"): {},
    ("descriptor", "hardnet"): {"filters": 4, "dim": 8},
    ("descriptor", "raw"): {"size": 8},
}
# a plugin's model loads through hpdesc.load_model, which imports the installed plugins (plain Keras would
# need `import hpdesc_ffdnet.ffdnet` too)
PLUGIN = {("denoiser", "ffdnet"): {"depth": 3, "filters": 4, "final_init": "orthogonal"}}
# 23.6 M weights even at its smallest: seconds to build, save and load twice, so in the slow tier
HEAVY = {("descriptor", "resnet50"): {"hidden": 0, "dim": 8}}
LOADER = r"""
import json, sys
import numpy as np
import keras
import hpdesc.models  # registers every hpdesc layer (docs/training.md, "The run directory")
paths = json.loads(sys.argv[1])
x = np.load(sys.argv[2])
plugins = json.loads(sys.argv[3])
out = {}
for name, path in paths.items():
    if name not in plugins:
        out[name] = np.asarray(keras.saving.load_model(path)(x, training=False), np.float32).tolist()
import hpdesc
again = {name: np.asarray(hpdesc.load_model(path)(x, training=False), np.float32).tolist()
         for name, path in paths.items()}
print("RESULT " + json.dumps({"keras": out, "hpdesc": again}))
"""


def test_every_builtin_model_loads_in_a_fresh_interpreter(tmp_path):
    import importlib.util

    plugin = PLUGIN if importlib.util.find_spec("hpdesc_ffdnet") is not None else {}
    _check_fresh_load({**BUILTINS, **plugin}, tmp_path, plugins=[name for _, name in plugin])


@pytest.mark.slow
def test_resnet50_loads_in_a_fresh_interpreter(tmp_path):
    _check_fresh_load(HEAVY, tmp_path)


def _check_fresh_load(models: dict, tmp_path, plugins=()) -> None:
    """Save ``models`` here (mixed bfloat16), load them in one subprocess both ways, compare outputs."""
    import keras

    from hpdesc import registry

    x = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    paths, expected = {}, {}
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")  # what training uses by default
    try:
        for (kind, name), params in models.items():
            model = registry.build(kind, name, input_shape=(32, 32, 1), **params)
            expected[name] = np.asarray(model(x, training=False), np.float32)
            paths[name] = str(tmp_path / f"{name}.keras")
            model.save(paths[name])
    finally:
        keras.config.set_dtype_policy(old)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", LOADER, json.dumps(paths), str(tmp_path / "x.npy"),
                           json.dumps(list(plugins))],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(lines[-1][7:])
    for way in ("keras", "hpdesc"):
        assert set(got[way]) == set(expected) - (set(plugins) if way == "keras" else set())
        for name, want in expected.items():
            if name not in got[way]:
                continue
            np.testing.assert_allclose(np.asarray(got[way][name]), want, atol=1e-6, err_msg=f"{way}: {name}")
