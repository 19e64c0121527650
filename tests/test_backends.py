"""Backend-agnosticism: a tiny training step on the JAX backend, in a subprocess of this interpreter.

Marked ``multiproc`` (``pytest -m multiproc``); skipped when jax is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import importlib.metadata as md

    import keras
    import numpy as np

    assert keras.backend.backend() == "jax", keras.backend.backend()

    def load(group, name):
        (ep,) = [e for e in md.entry_points(group=group) if e.name == name]
        return ep.load()

    rng = np.random.default_rng(0)
    B, D = 4, 8

    # hardnet + triplet: a shared descriptor over (anchor, positive, negative), one fit step.
    net = load("hpdesc.descriptors", "hardnet")(dim=D, filters=4, activation="leaky_relu")
    triplet = load("hpdesc.descriptor_losses", "triplet")(margin=1.0, reduction="mse")
    ins = [keras.Input((32, 32, 1), name=n) for n in ("a", "p", "n")]
    both = keras.Model(ins, keras.layers.Concatenate()([net(x) for x in ins]))

    def triplet_loss(y_true, y_pred):
        return triplet(y_pred[:, :D], y_pred[:, D:2 * D], y_pred[:, 2 * D:])

    opt = load("hpdesc.optimizers", "sgd")(learning_rate=0.1)
    both.compile(optimizer=opt, loss=triplet_loss)
    before = [np.array(w) for w in net.get_weights()]
    x = [rng.random((B, 32, 32, 1), dtype=np.float32) for _ in range(3)]
    hist = both.fit(x, np.zeros((B, 1), np.float32), batch_size=B, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, net.get_weights()))

    # hardnet loss under jit, gradient finite.
    import jax
    hard = load("hpdesc.descriptor_losses", "hardnet")()
    desc = net.predict(x[0], verbose=0)
    g = jax.grad(lambda a: hard(a, a, None))(desc)
    assert np.all(np.isfinite(np.asarray(g)))

    # dncnn + mae.
    dn = load("hpdesc.denoisers", "dncnn")(depth=3, filters=8)
    dn.compile(optimizer=load("hpdesc.optimizers", "adam")(learning_rate=1e-3),
               loss=load("hpdesc.denoiser_losses", "mae")())
    clean = rng.random((B, 32, 32, 1), dtype=np.float32)
    hist = dn.fit(clean + 0.1 * rng.normal(size=clean.shape).astype(np.float32), clean,
                  batch_size=B, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])

    # weight-free baselines run too.
    for name in ("raw", "sift"):
        model = load("hpdesc.descriptors", name)()
        out = model.predict(clean, verbose=0) if name != "sift" else model.compute(clean)
        assert out.shape[0] == B and np.all(np.isfinite(out))
    print("JAX-OK")
    """
)


@pytest.mark.multiproc
def test_training_step_on_jax_backend(tmp_path, jax_env):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=jax_env(), capture_output=True, text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "JAX-OK" in proc.stdout
