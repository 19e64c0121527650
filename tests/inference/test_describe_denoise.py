"""`hpdesc describe` / `hpdesc denoise`: baselines without a run, PSNR report, alignment, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent.parent / "training"))
from tiny import TINY, make_tiny_dataset  # noqa: E402

from hpdesc.cli.main import app  # noqa: E402


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


@pytest.fixture(scope="module")
def den_run(tiny_data, tmp_path_factory):
    import hpdesc

    out = tmp_path_factory.mktemp("runs") / "run"
    return hpdesc.train(data=tiny_data, sets=TINY + ["benchmark.enabled=false"], epochs=1, out=out).run_dir


@pytest.mark.parametrize("descriptor, dim", [("raw", 1024), ("sift", 128)])
def test_describe_baseline_without_run(tiny_data, tmp_path, descriptor, dim):
    from hpdesc.data.descfile import open_descriptors
    from hpdesc.data.store import open_dataset

    out = tmp_path / f"{descriptor}.h5"
    res = CliRunner().invoke(app, ["describe", "--descriptor", descriptor, "--data", str(tiny_data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open_descriptors(out) as d, open_dataset(tiny_data) as ds:
        assert d.sequences == ds.sequences and d.dim == dim
        assert np.array_equal(d.offsets, ds.offsets)
        assert d.config["dataset_uid"] == ds.uid and d.config["run_dir"] is None
        assert np.allclose(np.linalg.norm(d.get(ds.sequences[0]), axis=-1), 1, atol=1e-3)


def test_describe_split_with_run(tiny_data, den_run, tmp_path):
    from hpdesc.data.descfile import open_descriptors
    from hpdesc.data.store import open_dataset

    out = tmp_path / "d.h5"
    res = CliRunner().invoke(app, ["describe", "--run", str(den_run), "--data", str(tiny_data), "--split", "default",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open_descriptors(out) as d, open_dataset(tiny_data) as ds:
        assert d.sequences == ds.split("default")["test"] and d.dim == 16
        assert d.config["run_dir"] == str(Path(den_run).resolve())


def test_describe_run_for_benchmark(tiny_data, den_run):
    import hpdesc
    from hpdesc.api import describe_run

    p1 = describe_run(den_run, tiny_data, "default")
    mtime = p1.stat().st_mtime
    assert describe_run(den_run, tiny_data, "default") == p1 and p1.stat().st_mtime == mtime  # cached
    res = hpdesc.api.benchmark(run=den_run)
    assert set(res.headline) == {"verification", "matching", "retrieval"}


def test_run_made_descriptors_are_labelled_by_components_and_run(tiny_data, den_run, tmp_path):
    """Regression: describe --run wrote the label 'run+run' ('identity+run' with the denoiser replaced)."""
    import hpdesc
    from hpdesc.api import describe_run
    from hpdesc.data.descfile import open_descriptors

    name = Path(den_run).name
    hpdesc.describe(run=den_run, data=tiny_data, split="default", out=tmp_path / "r.h5")
    with open_descriptors(tmp_path / "r.h5") as d:
        assert d.config["descriptor"] == "dncnn+hardnet" and d.config["run"] == name
        assert d.config["input"] == "denoised"
        assert d.label == f"dncnn+hardnet (run {name})"
    with open_descriptors(describe_run(den_run, tiny_data, "default")) as d:  # the benchmark's copy
        assert d.label == f"dncnn+hardnet (run {name})" and d.config["input"] == "denoised"
    hpdesc.describe(run=den_run, data=tiny_data, split="default", denoiser="identity", out=tmp_path / "i.h5")
    with open_descriptors(tmp_path / "i.h5") as d:
        assert d.config["descriptor"] == "identity+hardnet" and d.config["input"] == "noisy"
        assert d.label == f"identity+hardnet (hardnet from run {name})"
    hpdesc.describe(run=den_run, data=tiny_data, split="default", kind="clean", out=tmp_path / "c.h5")
    with open_descriptors(tmp_path / "c.h5") as d:  # the denoiser does not run on clean patches
        assert d.config["descriptor"] == "hardnet" and d.config["input"] == "clean"
        assert d.label == f"hardnet (run {name}, clean input)"


def test_baseline_labels_tell_noisy_from_clean_input(tiny_data, tmp_path):
    import hpdesc
    from hpdesc.data.descfile import open_descriptors

    labels = {}
    for kind in ("noisy", "clean"):
        hpdesc.describe(descriptor="sift", data=tiny_data, split="default", kind=kind, out=tmp_path / f"{kind}.h5")
        with open_descriptors(tmp_path / f"{kind}.h5") as d:
            assert d.config["input"] == kind and d.config["descriptor"] == "sift" and d.config["run"] is None
            labels[kind] = d.label
    assert labels == {"noisy": "sift", "clean": "sift (clean input)"}


def test_benchmark_of_a_read_only_run_keeps_its_descriptors_in_the_cache(tiny_data, den_run, monkeypatch, tmp_path):
    """A run directory that cannot be written (another user's, a read-only mount) still benchmarks."""
    import os

    import hpdesc
    from hpdesc.inference import describe

    monkeypatch.setenv("HPDESC_CACHE_DIR", str(tmp_path / "cache"))
    run = Path(den_run).resolve()
    before = sorted(p.name for p in run.iterdir())
    real = os.access
    monkeypatch.setattr(describe.os, "access", lambda p, mode, *a, **k: Path(p).resolve() != run and real(p, mode))
    res = hpdesc.api.benchmark(run=den_run, split="default")
    assert set(res.headline) == {"verification", "matching", "retrieval"}
    assert sorted(p.name for p in run.iterdir()) == before
    assert Path(res.descriptors_path).is_relative_to(tmp_path / "cache")


def test_denoise_writes_aligned_file_and_psnr(tiny_data, den_run, tmp_path):
    from hpdesc.data.denoised import open_denoised
    from hpdesc.data.store import open_dataset

    out = tmp_path / "den.h5"
    res = CliRunner().invoke(app, ["denoise", "--run", str(den_run), "--data", str(tiny_data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "PSNR vs clean: noisy" in res.output
    with open_denoised(out) as f, open_dataset(tiny_data) as ds:
        assert f.sequences == ds.sequences
        s = ds.sequences[1]
        assert f.patches(s).shape == ds.patches(s).shape and f.patches(s).dtype == np.uint8
        assert np.array_equal(f.patches(s, "clean"), ds.patches(s, kind="clean"))
        assert set(f.config["psnr"]) == {"noisy", "denoised"}
    with h5py.File(out) as f:
        assert f.attrs["format"] == "hpdesc.denoised" and int(f.attrs["format_version"]) == 1


def test_identity_denoise_keeps_noisy_psnr(tiny_data, tmp_path):
    import hpdesc

    res = hpdesc.denoise(denoiser="identity", data=tiny_data, out=tmp_path / "id.h5", split="default")
    assert res["psnr"]["noisy"] == res["psnr"]["denoised"]


@pytest.mark.parametrize("args, code, text", [
    (["describe", "--descriptor", "sift", "--data", "NOPE.h5", "--out", "x.h5"], 2, "no such file"),
    (["describe", "--descriptor", "siftt", "--out", "x.h5"], 2, "Did you mean 'sift'"),
    (["describe", "--data", "DATA", "--out", "x.h5"], 2, "--run RUN_DIR or --descriptor"),
    (["denoise", "--run", "NORUN", "--out", "x.h5"], 2, "no such run directory"),
    (["describe", "--descriptor", "raw", "--data", "NOTHDF5", "--out", "x.h5"], 1, "not an HDF5 file"),
])
def test_bad_input_is_one_line(tiny_data, tmp_path, monkeypatch, args, code, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOTHDF5").write_text("hello")
    args = [str(tiny_data) if a == "DATA" else a for a in args]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == code, res.output
    assert text in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.h5").exists()


def test_a_weightless_baseline_table_is_computed_once_per_data_and_settings(tiny_data, tmp_path, monkeypatch):
    import keras

    from hpdesc import registry
    from hpdesc.data.store import open_dataset
    from hpdesc.inference import baseline as D

    calls = []
    real = D.denoising_table
    monkeypatch.setattr(D, "denoising_table", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    cache = tmp_path / "cache"
    with open_dataset(tiny_data) as ds:
        test = ds.split(ds.config.get("split") or sorted(ds.splits)[0])["test"]
        nl = registry.build("denoiser", "nlmeans", input_shape=(32, 32, 1))
        first = D.baseline_table_rows(nl, ds, test, "nlmeans", None, cache=cache)
        again = D.baseline_table_rows(registry.build("denoiser", "nlmeans", input_shape=(32, 32, 1)), ds, test,
                                      "nlmeans", None, cache=cache)
        assert calls == ["nlmeans"] and again == first  # the second run reads the cache
        assert first["mean"]["psnr_denoised"] > first["mean"]["psnr_noisy"]
        strong = registry.build("denoiser", "nlmeans", input_shape=(32, 32, 1), h=30.0)
        other = D.baseline_table_rows(strong, ds, test, "nlmeans", None, cache=cache)  # other settings: computed
        assert calls == ["nlmeans", "nlmeans"] and other != first
        D.baseline_table_rows(nl, ds, test[:1], "nlmeans", None, cache=cache)  # other sequences: computed
        assert len(calls) == 3
        weights = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(1, 3, padding="same")])
        for _ in range(2):  # a model with weights is never cached
            D.baseline_table_rows(weights, ds, test, "dncnn", None, cache=cache)
        assert calls[3:] == ["dncnn", "dncnn"]


def test_a_weightless_baselines_output_is_denoised_once_and_describes_the_same(tiny_data, tmp_path, monkeypatch):
    """A second run on the same data reads the cached denoised patches; describing them gives the same descriptors."""
    import numpy as np

    from hpdesc import registry
    from hpdesc.data.denoised import open_denoised
    from hpdesc.data.store import open_dataset
    from hpdesc.inference.baseline import baseline_output, baseline_table_rows
    from hpdesc.inference.describe import describe_sequences
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.models.denoisers.classical import NlMeans

    filtered = []
    real = NlMeans.filter
    monkeypatch.setattr(NlMeans, "filter", lambda self, img: filtered.append(1) or real(self, img))
    cache = tmp_path / "cache"
    desc = registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=8)
    with open_dataset(tiny_data) as ds:
        test = ds.split(sorted(ds.splits)[0])["test"]
        nl = registry.build("denoiser", "nlmeans", input_shape=(32, 32, 1))
        path, rows = baseline_output(nl, ds, test, "nlmeans", None, cache=cache)
        once = len(filtered)
        assert once > 0 and path.is_file()
        again, rows2 = baseline_output(nl, ds, test, "nlmeans", None, cache=cache)
        assert len(filtered) == once and again == path and rows2 == rows  # the second run denoises nothing
        assert baseline_table_rows(nl, ds, test, "nlmeans", None, cache=cache) == rows and len(filtered) == once
        direct = dict(describe_sequences(Pipeline(nl, desc), ds, test))
        with open_denoised(path) as df:
            cached = dict(describe_sequences(Pipeline(None, desc), df, test, kind="denoised"))
        assert baseline_output(nl, ds, test, "nlmeans", None, cache=False) == (None, {})
    for s in test:
        np.testing.assert_array_equal(cached[s], direct[s])
