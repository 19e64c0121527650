"""Issue 25, "nothing lost": every case is one line naming the path and the reason, a non-zero exit,
every input byte-for-byte unchanged and no partial output (docs/formats.md, "What hpdesc guarantees
about your files")."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc.cli.main import app
from hpdesc.data.descfile import write_descriptors
from hpdesc.training.run import LATEST, RunDir
from tests.benchmark.conftest import COUNTS, SEQS, make_dataset, make_descriptors

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
from tiny import make_tiny_dataset, tiny_sets  # noqa: E402

runner = CliRunner()


def _md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _one_line(res, code: int, *needles: str) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and "bug in hpdesc" not in res.output, res.output
    assert res.stderr.startswith("error: "), res.stderr
    text = " ".join(res.stderr.split())  # rich may wrap a long line
    for needle in needles:
        assert needle in text, res.stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("nl") / "d.h5", n_seq=4, n_patches=8)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A patch dataset and a descriptor file of it (the benchmark tests' layout)."""
    root = tmp_path_factory.mktemp("nlb")
    path = make_dataset(root / "data.h5")
    desc = write_descriptors(root / "desc.h5", SEQS, make_descriptors(), {"descriptor": "toy", "dataset": str(path)})
    return path, desc


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("nli")
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur((rng.random((120, 160)) * 255).astype(np.uint8), (5, 5), 0)
    a, b = root / "a.png", root / "b.png"
    cv2.imwrite(str(a), base)
    cv2.imwrite(str(b), np.roll(base, 3, axis=1))
    return a, b


# -- 1. an output that is an input ----------------------------------------------------------------
def test_describe_and_denoise_refuse_to_overwrite_their_dataset(data, tmp_path):
    before = _md5(data)
    (tmp_path / "link.h5").symlink_to(data)
    os.link(data, tmp_path / "hard.h5")
    for args in (["describe", "--descriptor", "raw", "--data", str(data), "--out", str(data)],
                 ["describe", "--descriptor", "raw", "--data", str(data), "--out", str(tmp_path / "link.h5")],
                 ["denoise", "--denoiser", "median", "--data", str(data), "--out", str(tmp_path / "hard.h5")]):
        res = runner.invoke(app, args)
        _one_line(res, 2, "is the input", str(data))
    assert _md5(data) == before


def test_benchmark_outputs_refuse_the_descriptors_and_the_data(small, tmp_path):
    path, desc = small
    before = (_md5(path), _md5(desc))
    for flag, target in (("--json", desc), ("--markdown", path), ("--plot", desc)):
        res = runner.invoke(app, ["benchmark", "-d", str(desc), "--data", str(path), flag, str(target)])
        _one_line(res, 2, "is the input", str(target))
    res = runner.invoke(app, ["benchmark", "denoise", "--denoiser", "median", "--data", str(path), "--json", str(path)])
    _one_line(res, 2, "is the input")
    res = runner.invoke(app, ["benchmark", "import-csv", str(tmp_path), "--data", str(path), "--out", str(path)])
    _one_line(res, 2, "is the input")
    assert (_md5(path), _md5(desc)) == before


def test_match_and_features_refuse_to_overwrite_an_image(images, tmp_path):
    a, b = images
    before = (_md5(a), _md5(b))
    res = runner.invoke(app, ["match", str(a), str(b), "--descriptor", "sift", "--out", str(a)])
    _one_line(res, 2, "is the input", str(a))
    res = runner.invoke(app, ["match", str(a), str(b), "--descriptor", "sift", "--json", str(b)])
    _one_line(res, 2, "is the input", str(b))
    # features of a.png go to a.png.sift: here that name is the second image given
    twin = tmp_path / "a.png"
    twin.write_bytes(a.read_bytes())
    (tmp_path / "a.png.sift").write_bytes(b.read_bytes())
    res = runner.invoke(app, ["features", str(twin), str(tmp_path / "a.png.sift"), "--descriptor", "sift"])
    _one_line(res, 2, "is the input", "a.png.sift")
    assert (tmp_path / "a.png.sift").read_bytes() == b.read_bytes()
    assert (_md5(a), _md5(b)) == before


def test_data_import_and_benchmark_images_refuse_to_write_over_a_sequence_file(tmp_path):
    from hpdesc.data.synth import write_sequences

    seqs = write_sequences(tmp_path / "seqs", n_sequences=2, image_size=96)
    target = next(seqs.rglob("1.ppm"))
    before = _md5(target)
    res = runner.invoke(app, ["data", "import", str(seqs), "--out", str(target)])
    _one_line(res, 2, str(target))
    res = runner.invoke(app, ["benchmark", "images", str(seqs), "--descriptor", "sift", "--json", str(target)])
    _one_line(res, 2, str(target), "input")
    assert _md5(target) == before


# -- 2. a full disk / a file size limit ------------------------------------------------------------
@pytest.mark.parametrize("limit_kib", [16, 300])  # early in the file, and while its compressed chunks are written
def test_a_patch_file_over_the_file_size_limit_is_one_line_not_a_crash(tmp_path, limit_kib):
    out = tmp_path / "big.h5"
    cmd = f"ulimit -f {limit_kib}; exec {sys.executable} -m hpdesc data synth --sequences 2 --patches 20 --out {out}"
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HPDESC_NO_PROGRESS": "1"})
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])  # was 139 (segfault)
    assert res.stderr.splitlines()[0] == f"error: cannot write {out}: File too large", res.stderr
    assert "Exception ignored" not in res.stderr
    assert os.listdir(tmp_path) == []  # no output, no temporary file


def test_describe_over_the_file_size_limit_is_one_line(data, tmp_path, file_size_limit):
    out = tmp_path / "big.h5"
    before = _md5(data)
    file_size_limit(64 * 1024)
    res = runner.invoke(app, ["describe", "--descriptor", "raw", "--data", str(data), "--out", str(out)])
    file_size_limit(None)
    _one_line(res, 2, f"cannot write {out}: File too large")  # was a segfault (exit 139)
    assert os.listdir(tmp_path) == []
    assert _md5(data) == before


@pytest.fixture()
def file_size_limit():
    """Lower this process's soft file size limit (SIGXFSZ is ignored: writes fail with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def lower(n_bytes: int | None) -> None:  # None: back to the limit the test started with
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft if n_bytes is None else n_bytes, hard))

    yield lower
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_features_and_match_on_a_full_disk_name_the_path_and_leave_nothing(images, tmp_path, file_size_limit):
    a, b = images
    out = tmp_path / "feats"
    file_size_limit(2000)
    res = runner.invoke(app, ["features", str(a), str(b), "--descriptor", "sift", "--out", str(out)])
    res2 = runner.invoke(app, ["match", str(a), str(b), "--descriptor", "sift", "--out", str(tmp_path / "m.png")])
    file_size_limit(None)
    _one_line(res, 2, f"cannot write {out / 'a.png.sift'}: File too large")
    assert not out.exists()  # no empty (or half-filled) output folder
    _one_line(res2, 2, f"cannot write {tmp_path / 'm.png'}: File too large")
    assert os.listdir(tmp_path) == []


# -- 3. latest, 8. the run lock ------------------------------------------------------------------
def test_latest_is_only_in_the_runs_root_and_only_for_trained_runs(data, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("HPDESC_RUNS", str(root))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / LATEST).write_text("my notes\n")
    sets = [x for s in tiny_sets(denoiser=False) for x in ("--set", s)]
    res = runner.invoke(app, ["train", "--data", str(data), "--skip-denoiser", "--descriptor", "hardnet",
                              "--epochs", "1", *sets, "--out", str(mine / "X")])
    assert res.exit_code == 0, res.output
    assert (mine / LATEST).read_text() == "my notes\n"  # a user's file beside --out: untouched
    assert (root / LATEST).read_text() == f"{(mine / 'X').resolve()}\n"
    res = runner.invoke(app, ["benchmark", "--data", str(data)])  # no --run: says which run it uses
    assert res.exit_code == 0, res.output
    assert f"using the latest run {(mine / 'X').resolve()}" in " ".join(res.stderr.split())

    # a run that fails its checks does not become latest
    res = runner.invoke(app, ["train", "--data", str(data), "--skip-denoiser", "--descriptor", "hardnet", "--epochs", "1",
                              *sets, "--set", "training.collapse_distance=10.0", "--out", str(tmp_path / "bad")])
    assert res.exit_code == 1 and "collapsed" in res.output
    assert (root / LATEST).read_text() == f"{(mine / 'X').resolve()}\n"

    # a second process training the same run fails at once, naming it and the holder
    with RunDir(mine / "X").lock():
        res = runner.invoke(app, ["train", "--resume", str(mine / "X")])
    _one_line(res, 2, f"{mine / 'X'} is being trained by another process (pid {os.getpid()})")


# -- 4. non-finite descriptors --------------------------------------------------------------------
def test_nan_descriptors_are_refused_with_their_count_before_any_score(small, tmp_path):
    path, desc = small
    bad = tmp_path / "nan.h5"
    bad.write_bytes(Path(desc).read_bytes())
    with h5py.File(bad, "r+") as f:  # another tool wrote NaNs (no fingerprint: not one hpdesc made)
        x = f["descriptors"][()]
        x[:, 3] = np.nan
        f["descriptors"][...] = x
        del f.attrs["fingerprint"]
    res = runner.invoke(app, ["benchmark", "-d", str(bad), "--data", str(path), "--no-cache"])
    _one_line(res, 1, "contain NaN or infinite values")
    assert "mAP" not in res.stdout


def test_nan_in_a_feature_file_is_refused(tmp_path):
    from hpdesc.matching.features import Features, load_features, save_features
    from hpdesc.errors import DataFormatError

    p = save_features(tmp_path / "1.ppm.x", Features(np.zeros((3, 2)), np.ones(3), np.array([[1.0], [np.nan], [np.inf]])))
    with pytest.raises(DataFormatError, match=r"2 of 3 descriptors contain NaN"):
        load_features(p)


# -- 5. the pixel budget --------------------------------------------------------------------------
def test_a_huge_image_is_refused_from_its_header(tmp_path, monkeypatch, images):
    huge = tmp_path / "huge.pgm"
    huge.write_bytes(b"P5\n8000 8000\n255\n")  # the header alone: decoding it would fail
    import hpdesc.data.sequences as S

    monkeypatch.setattr(S.cv2, "imdecode", lambda *a: pytest.fail("decoded an image over the budget"))
    res = runner.invoke(app, ["features", str(huge), "--descriptor", "sift"])
    _one_line(res, 2, str(huge), "8000x8000", "pixel budget", "--max-pixels")
    monkeypatch.undo()
    res = runner.invoke(app, ["match", str(images[0]), str(images[1]), "--descriptor", "sift", "--max-pixels", "1000"])
    _one_line(res, 2, "over the pixel budget of 1000 pixels")
    res = runner.invoke(app, ["match", str(images[0]), str(images[1]), "--descriptor", "sift", "--max-pixels", "19200"])
    assert res.exit_code == 0, res.output  # 160 x 120: exactly the budget


# -- 6. messages ----------------------------------------------------------------------------------
def test_damaged_and_empty_files_name_the_file(data, small, tmp_path):
    broken = tmp_path / "broken.h5"
    raw = bytearray(Path(data).read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 200_000] = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    broken.write_bytes(bytes(raw))
    res = runner.invoke(app, ["denoise", "--denoiser", "median", "--data", str(broken), "--out", str(tmp_path / "o.h5")])
    _one_line(res, 1, f"cannot read {broken}")
    assert not (tmp_path / "o.h5").exists()

    path, desc = small
    zero = tmp_path / "zero.h5"
    zero.write_bytes(Path(desc).read_bytes())
    with h5py.File(zero, "r+") as f:
        n = f["descriptors"].shape[0]
        del f["descriptors"]
        f.create_dataset("descriptors", shape=(n, 16, 0), dtype="f4")
    res = runner.invoke(app, ["benchmark", "-d", str(zero), "--data", str(path)])
    _one_line(res, 1, str(zero), "0 columns")


def test_bad_seeds_and_huge_integers_are_usage_errors_before_a_run_dir(data, tmp_path, monkeypatch):
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "runs"))
    for extra, needle in ((["--seed", "-1"], "training.seed must be a whole number"),
                          (["--set", "training.seed=1e23"], "out of range"),
                          (["--epochs", str(10 ** 26)], "out of range"),
                          (["--skip-denoiser", "--denoiser", "dncnn"], "--skip-denoiser and --denoiser dncnn conflict")):
        res = runner.invoke(app, ["train", "--data", str(data), "--descriptor", "hardnet", *extra,
                                  "--out", str(tmp_path / "r")])
        _one_line(res, 2, needle)
        assert not (tmp_path / "r").exists() and not (tmp_path / "runs").exists()


@pytest.fixture()
def hand_run(tmp_path, data):
    """A run made by hand: a 3-layer DnCNN and a 16-d HardNet with random weights, trained on ``data``."""
    from hpdesc import api, registry

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    cfg = api.resolve_config(denoiser="dncnn", descriptor="hardnet", data=str(data),
                             sets=["denoiser.depth=3", "denoiser.filters=8", "descriptor.filters=4", "descriptor.dim=16"])
    cfg.save(run.config)
    registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=8).save(run.model("denoiser"))
    registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=16).save(run.model("descriptor"))
    return run


def test_a_truncated_model_and_a_mismatched_config_are_named(hand_run, data, tmp_path):
    model = hand_run.model("descriptor")
    whole = model.read_bytes()
    model.write_bytes(whole[:3000])
    res = runner.invoke(app, ["describe", "--run", str(hand_run.path), "--data", str(data), "--out", str(tmp_path / "x.h5")])
    _one_line(res, 1, f"cannot read {model}", "truncated or corrupt")

    model.write_bytes(whole)
    cfg = hand_run.config.read_text().replace('name = "dncnn"', 'name = "unet"', 1)
    hand_run.config.write_text(cfg)
    res = runner.invoke(app, ["denoise", "--run", str(hand_run.path), "--data", str(data), "--out", str(tmp_path / "x.h5")])
    _one_line(res, 1, f"{hand_run.model('denoiser')} is a 'dncnn' denoiser", "names 'unet'")
    assert not (tmp_path / "x.h5").exists()


# -- 7. read paths that write ------------------------------------------------------------------------
def test_benchmark_on_other_data_keeps_the_runs_descriptors(hand_run, data, tmp_path):
    res = runner.invoke(app, ["benchmark", "--run", str(hand_run.path)])
    assert res.exit_code == 0, res.output
    own = hand_run.descriptors.read_bytes()
    other = make_tiny_dataset(tmp_path / "other.h5", n_seq=4, n_patches=8, seed=5)
    res = runner.invoke(app, ["benchmark", "--run", str(hand_run.path), "--data", str(other)])
    assert res.exit_code == 0, res.output
    assert hand_run.descriptors.read_bytes() == own
    with h5py.File(hand_run.descriptors) as f:
        assert json.loads(f.attrs["config"])["dataset"] == str(Path(data).resolve())

    out = tmp_path / "den.h5"
    res = runner.invoke(app, ["denoise", "--run", str(hand_run.path), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert json.loads(f.attrs["config"])["denoiser"] == "dncnn"  # was "run"


def test_train_on_a_full_disk_names_the_file_and_leaves_latest_alone(data, tmp_path, monkeypatch, file_size_limit):
    root = tmp_path / "runs"
    monkeypatch.setenv("HPDESC_RUNS", str(root))
    sets = [x for s in tiny_sets(denoiser=False) for x in ("--set", s)]
    before = _md5(data)
    file_size_limit(20_000)
    res = runner.invoke(app, ["train", "--data", str(data), "--skip-denoiser", "--descriptor", "hardnet",
                              "--epochs", "1", *sets, "--out", str(tmp_path / "R")])
    file_size_limit(None)
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]  # after the tiny data's warning
    assert len(errors) == 1 and f"cannot write {tmp_path / 'R'}" in errors[0] and "File too large" in errors[0], res.stderr
    assert not (root / LATEST).exists()
    assert not [p for p in (tmp_path / "R").rglob("*.tmp*")]  # no temporary file left
    assert _md5(data) == before
