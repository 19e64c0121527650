"""Against the real thing: kornia's HardNet / SOSNet / TFeat (random, seeded weights) through ONNX and as state dicts.

Needs the ``interop`` extra (torch + kornia; README's test command installs it); skipped without
it. torch and TensorFlow share this process (TensorFlow imported first, as every hpdesc test
does; checked on torch 2.13.0+cpu / tensorflow-cpu 2.21).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
KF = pytest.importorskip("kornia.feature")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
from tiny import make_tiny_dataset, tiny_sets  # noqa: E402

COSINE = 0.9999
# torch.onnx.export (TorchScript) warns about its own deprecation and traced shape checks: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore::torch.jit.TracerWarning")


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    """24 real 32x32 patches of scikit-image's photographs (float32 (B, 32, 32, 1) in [0, 1])."""
    from skimage import data

    rng = np.random.default_rng(0)
    out = []
    for image in (data.camera(), data.coins(), data.moon()):
        img = image.astype(np.float32) / 255.0
        for _ in range(8):
            y, x = rng.integers(0, np.array(img.shape) - 32)
            out.append(img[y:y + 32, x:x + 32])
    return np.stack(out)[..., None]


def _kornia(name: str, patches: np.ndarray):
    """kornia's ``name`` with seeded random weights and non-trivial batch norm statistics, in eval mode."""
    torch.manual_seed(0)
    model = getattr(KF, name)(pretrained=False)
    model.train()
    x = torch.from_numpy(patches.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        for _ in range(3):  # running mean / var away from their initial 0 / 1
            model(x)
    return model.eval()


def _torch_out(model, patches):
    with torch.no_grad():
        return model(torch.from_numpy(patches.transpose(0, 3, 1, 2).copy())).numpy()


def _cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("name", ["HardNet", "SOSNet", "TFeat"])
def test_onnx_descriptor_equals_pytorch(name, patches, tmp_path):
    from hpdesc.validate import build_checked

    model = _kornia(name, patches)
    path = tmp_path / f"{name}.onnx"
    # the TorchScript exporter (dynamo=False): torch 2.13's default dynamo exporter needs onnxscript;
    # nn.Sequential: SOSNet.forward's own `eps` argument would become a second graph input
    torch.onnx.export(torch.nn.Sequential(model).eval(), torch.rand(2, 1, 32, 32), str(path), dynamo=False,
                      input_names=["patches"], output_names=["descriptors"],
                      dynamic_axes={"patches": {0: "B"}, "descriptors": {0: "B"}})
    ours = build_checked("descriptor", "onnx", {"path": str(path)}).predict(patches)
    ref = _torch_out(model, patches)
    assert ours.shape == ref.shape == (len(patches), 128)
    assert _cosines(ours, ref).min() >= COSINE


@pytest.mark.parametrize("name, wrap", [("HardNet", True), ("HardNet", False), ("SOSNet", False)])
def test_state_dict_into_keras_hardnet_equals_pytorch(name, wrap, patches, tmp_path):
    import hpdesc
    from hpdesc.models.descriptors.hardnet import hardnet
    from hpdesc.models.torchmap import TORCH_HARDNET_PARAMS, hardnet_params, read_state_dict

    model = _kornia(name, patches)
    path = tmp_path / "ckpt.pth"
    sd = model.state_dict()
    # the original HardNet repository saves {"epoch": ..., "state_dict": ...}; kornia's own model a bare one
    torch.save({"epoch": 10, "state_dict": sd} if wrap else sd, path)
    params = hardnet_params(read_state_dict(path))
    assert params == {"filters": 32, "dim": 128, **TORCH_HARDNET_PARAMS,
                      **({"input_norm": "instance"} if name == "SOSNet" else {})}
    keras_model = hpdesc.load_weights(hardnet(**params), path)
    assert _cosines(keras_model.predict(patches, verbose=0), _torch_out(model, patches)).min() >= COSINE


def test_wrong_architecture_is_one_line(patches, tmp_path):
    import hpdesc
    from hpdesc.errors import HpdescError
    from hpdesc.models.descriptors.hardnet import hardnet

    path = tmp_path / "ckpt.pth"
    torch.save(_kornia("HardNet", patches).state_dict(), path)
    with pytest.raises(HpdescError, match="needs hpdesc's hardnet built with final_bn=true, padding=symmetric, "
                                          "bn_epsilon=1e-5"):
        hpdesc.load_weights(hardnet(), path)
    tfeat = tmp_path / "tfeat.pth"
    torch.save(_kornia("TFeat", patches).state_dict(), tfeat)
    with pytest.raises(HpdescError, match="not a HardNet / SOSNet state dict"):
        hpdesc.load_weights(hardnet(), tfeat)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


def test_train_init_from_a_pth_then_fine_tune(tiny_data, patches, tmp_path):
    import hpdesc
    from hpdesc.errors import ConfigError, UsageError
    from hpdesc.models.torchmap import TORCH_HARDNET_PARAMS

    model = _kornia("HardNet", patches)
    path = tmp_path / "hardnet.pth"
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, path)
    ref = _torch_out(model, patches)
    sets = tiny_sets(denoiser=False, descriptor=False)
    # 0 epochs: the run's descriptor is the checkpoint, converted
    res = hpdesc.train(data=tiny_data, skip_denoiser=True, descriptor="hardnet", init=str(path), out=tmp_path / "r0",
                       sets=[*sets, "training.descriptor_epochs=0", "benchmark.enabled=false"])
    run = hpdesc.load_run(res.run_dir)
    assert run.config.training.init == str(path.resolve())
    assert len(run.config.provenance["init_sha256"]) == 64
    assert run.config.descriptor.params["padding"] == "symmetric"
    assert _cosines(run.descriptor.predict(patches, verbose=0), ref).min() >= COSINE
    # 1 epoch: fine-tuned from there (the weights move), and the converted run initialises another
    with pytest.raises(UsageError, match="not the same architecture"):  # a default hardnet: no final norm
        hpdesc.train(data=tiny_data, skip_denoiser=True, descriptor="hardnet", init=str(res.run_dir),
                     out=tmp_path / "r1", sets=sets)
    same = [f"descriptor.{k}={json.dumps(v)}" for k, v in TORCH_HARDNET_PARAMS.items()]
    res = hpdesc.train(data=tiny_data, skip_denoiser=True, descriptor="hardnet", init=str(res.run_dir),
                       epochs=1, out=tmp_path / "r1", sets=[*sets, *same, "benchmark.enabled=false"])
    tuned = hpdesc.load_run(res.run_dir).descriptor.get_layer("conv4").kernel
    start = model.state_dict()["features.9.weight"].numpy().transpose(2, 3, 1, 0)
    corr = np.corrcoef(np.asarray(tuned).ravel(), start.ravel())[0, 1]
    assert res.finished and 0.9 < corr < 1.0  # moved by training, from the checkpoint (not a fresh init)
    with pytest.raises(ConfigError, match=r"descriptor.final_bn = False cannot take effect: --init"):
        hpdesc.train(data=tiny_data, skip_denoiser=True, descriptor="hardnet", init=str(path), out=tmp_path / "r2",
                     sets=[*sets, "descriptor.final_bn=false"])
    assert not (tmp_path / "r2").exists()
