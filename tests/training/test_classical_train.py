"""A classical denoiser in a run: only the descriptor trains, on its output; nlmeans as a baseline; refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny import make_tiny_dataset, tiny_sets  # noqa: E402

import hpdesc  # noqa: E402
from hpdesc import api  # noqa: E402
from hpdesc.errors import UsageError  # noqa: E402
from hpdesc.validate import check_components  # noqa: E402

NO_DENOISER = [s for s in tiny_sets(denoiser=False) if not s.startswith("benchmark.baselines")]


def test_classical_denoiser_with_trainable_descriptor_is_accepted():
    cache: dict = {}  # the descriptor is built once for the three
    for name in ("nlmeans", "median", "gaussian"):
        entries = check_components(api.resolve_config(denoiser=name, descriptor="hardnet"), cache=cache)
        assert entries["denoiser"]["value"] == f"hpdesc.models.denoisers.classical:{name}"


@pytest.mark.parametrize("flags, sets, match", [
    ({"denoiser": "nlmeans", "descriptor": "none"}, [], r"nlmeans is not trainable; use hpdesc denoise --denoiser nlmeans"),
    ({"denoiser": "nlmeans", "descriptor": "hardnet", "denoiser_loss": "mae"}, [],
     r"denoiser_loss = 'mae' cannot take effect: the denoiser 'nlmeans' has no weights to train"),
    ({"denoiser": "median", "descriptor": "hardnet"}, ["denoiser_optimizer.learning_rate=0.1"],
     r"denoiser_optimizer\.learning_rate cannot take effect: the denoiser 'median'"),
    ({"denoiser": "identity", "descriptor": "hardnet"}, ["denoiser_optimizer=sgd"],
     r"denoiser_optimizer = 'sgd' cannot take effect"),
    ({"denoiser": "gaussian", "descriptor": "hardnet"}, ["denoiser.sigma=-0.5"], r"sigma.*>= 0"),
])
def test_refused_before_anything_runs(flags, sets, match):
    with pytest.raises(UsageError, match=match) as info:
        check_components(api.resolve_config(sets=sets, **flags))
    assert "\n" not in info.value.message


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


def test_train_median_hardnet_trains_only_the_descriptor(tiny_data, tmp_path):
    from hpdesc.experiments.comparison import collect

    res = hpdesc.train(data=tiny_data, denoiser="median", descriptor="hardnet", epochs=1, out=tmp_path / "run",
                       sets=NO_DENOISER + ["benchmark.baselines=['raw', 'nlmeans']"])
    run = Path(res.run_dir)
    assert res.finished and set(res.history) == {"descriptor"}
    assert not (run / "history_denoiser.csv").exists() and (run / "checkpoints" / "pool_train.npz").exists()
    bench = json.loads((run / "benchmark.json").read_text())
    assert set(bench["results"]) == {"median+hardnet", "raw", "nlmeans+hardnet"}
    assert set(bench["denoising"]) == {"median", "nlmeans"}
    for rows in bench["denoising"].values():
        assert set(rows) >= {"e", "h", "t", "mean"}
        assert rows["mean"]["psnr_denoised"] > rows["mean"]["psnr_noisy"]
    comp = collect([run])
    cols = comp.metric_columns()
    assert {"psnr_e", "psnr_h", "psnr_t"} <= set(cols)
    base = {r.name: r.metrics for r in comp.rows if r.baseline}
    assert set(base) == {"raw (baseline)", "nlmeans (baseline)"}  # nlmeans+hardnet used this run's descriptor
    assert base["nlmeans (baseline)"]["psnr_t"] == pytest.approx(bench["denoising"]["nlmeans"]["t"]["psnr_denoised"])
    assert "total" not in base["nlmeans (baseline)"] and "total" in base["raw (baseline)"]
    from hpdesc.data.descfile import open_descriptors

    # every descriptor file a run's models made keys the models' mtimes one way: a list
    with open_descriptors(run / "baselines" / "nlmeans+hardnet.h5") as d:
        assert d.config["models_mtime"] == [round((run / "descriptor.keras").stat().st_mtime, 3)]
    with open_descriptors(run / "descriptors_test.h5") as d:
        assert isinstance(d.config["models_mtime"], list)


def test_unknown_baseline_is_refused_before_training(tiny_data, tmp_path):
    with pytest.raises(UsageError, match=r"benchmark.baselines: 'nlmeanz' is neither a descriptor nor a denoiser"):
        hpdesc.train(data=tiny_data, denoiser="median", descriptor="hardnet", out=tmp_path / "run",
                     sets=NO_DENOISER + ["benchmark.baselines=['raw', 'nlmeanz']"])
    assert not (tmp_path / "run").exists()
