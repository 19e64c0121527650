"""`hpdesc benchmark images` and `hpdesc.benchmark_images`: methods, settings, outputs, bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import hpdesc
from hpdesc import api
from hpdesc.cli.main import app
from hpdesc.data.sequences import find_sequences, image_file, read_image
from hpdesc.data.synth import write_sequences
from hpdesc.errors import DataFormatError, UsageError
from hpdesc.matching import report
from hpdesc.matching.features import Features, feature_path, save_features

runner = CliRunner()


def _sift(image, n=300):
    kps, desc = cv2.SIFT_create(nfeatures=n).detectAndCompute((image * 255).round().astype(np.uint8), None)
    pts = np.array([k.pt for k in kps], np.float64).reshape(-1, 2)
    return Features(pts, np.array([k.response for k in kps]), desc if desc is not None else np.zeros((0, 128)))


class _Ext:
    def __init__(self, name, **kw):
        self.name, self.kw = name, kw

    def __call__(self, image):
        return _sift(image)


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    root = write_sequences(tmp_path_factory.mktemp("bi") / "seqs", n_sequences=2, image_size=128)
    for f in find_sequences(root):
        for k in range(1, 7):
            save_features(feature_path(image_file(f, k), "sift"), _sift(read_image(image_file(f, k))))
            raw = read_image(image_file(f, k))
            save_features(feature_path(image_file(f, k), "grid"),
                          Features(np.array([[16.0, 16], [64, 64], [100, 30]]), np.ones(3), raw[[16, 64, 30], [16, 64, 100]][:, None]))
    return root


@pytest.fixture()
def fake_extract(monkeypatch):
    """A stand-in for hpdesc.matching.extract (part B): records make_extractor's arguments."""
    calls = []

    def make_extractor(*, run=None, descriptor=None, detector="sift", max_keypoints=2048, sets=(), noise=None, seed=0,
                       denoiser=None, detect_on=None, detect_on_if_denoised=False):
        kw = dict(run=run, descriptor=descriptor, detector=detector, max_keypoints=max_keypoints, sets=sets,
                  noise=noise, seed=seed)
        kw.update({k: v for k, v in (("denoiser", denoiser), ("detect_on", detect_on)) if v is not None})
        calls.append(kw)
        if descriptor == "nosuch":
            raise UsageError("unknown descriptor 'nosuch'")
        ext = _Ext(f"x-{(denoiser + '+') if denoiser else ''}{descriptor or run.name}", **kw)
        ext.image_denoiser = object() if denoiser not in (None, "none") else None
        return ext

    monkeypatch.setattr("hpdesc.cli.benchmark_images.quiet_import_keras", lambda: None)  # no TF start-up in tests
    monkeypatch.setattr("hpdesc.matching.extract.make_extractor", make_extractor)
    return calls


def _one_line_error(res, code, *fragments):
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), res.stderr
    for frag in fragments:
        assert frag in res.stderr, res.stderr


# ---- API -------------------------------------------------------------------------------------------

def test_api_is_exported_lazily():
    assert hpdesc.benchmark_images is api.benchmark_images


def test_features_and_extractors_side_by_side(seqs, tmp_path):
    rs = api.benchmark_images(seqs, features="sift", extractors=[_Ext("mine")], json=tmp_path / "r.json",
                              plot=tmp_path / "m.png")
    assert [r.method for r in rs] == ["sift", "mine"] and [r.source for r in rs] == ["features", "extractor"]
    np.testing.assert_allclose(rs[0].mma(), rs[1].mma(), atol=0.05)  # same SIFT, read back from files
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["format"] == "hpdesc.image-matching" and [m["method"] for m in doc["methods"]] == ["sift", "mine"]
    for m in doc["methods"]:
        for g in ("i", "v", "overall"):
            assert len(m["groups"][g]["mma"]) == 10
            assert set(m["groups"][g]["homography"]["shares"]) == {"1", "3", "5"}
        assert m["groups"]["overall"]["pairs"] == 10
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_and_descriptors_go_through_make_extractor(seqs, tmp_path, fake_extract):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    rs = api.benchmark_images(seqs, run=run, descriptor="sift", detector="orb", max_keypoints=100, noise="t",
                              sets=["a=1"], seed=3)
    assert fake_extract == [
        dict(run=run, descriptor=None, detector="orb", max_keypoints=100, sets=("a=1",), noise="t", seed=3),
        dict(run=None, descriptor="sift", detector="orb", max_keypoints=100, sets=("a=1",), noise="t", seed=3)]
    assert [r.method for r in rs] == ["x-r1", "x-sift"]
    assert all(any("noise level 't'" in n for n in r.notes) for r in rs)


def test_defaults_passed_to_make_extractor(seqs, fake_extract):
    api.benchmark_images(seqs, descriptor="raw", noise="none")
    assert fake_extract == [dict(run=None, descriptor="raw", detector="sift", max_keypoints=2048, sets=(), noise=None, seed=0)]


def test_compare_resolves_runs_features_and_descriptors(seqs, tmp_path, fake_extract):
    run = tmp_path / "r2"
    run.mkdir()
    rs = api.benchmark_images(seqs, compare=["sift", str(run), "hardnet"])
    # features first, then runs, then descriptors
    assert [(r.method, r.source) for r in rs] == [("sift", "features"), ("x-r2", "extractor"), ("x-hardnet", "extractor")]


def test_compare_path_that_is_not_there(seqs, tmp_path, fake_extract):
    with pytest.raises(UsageError, match=r"--compare .*runs/typo: no such run folder"):
        api.benchmark_images(seqs, compare=[str(tmp_path / "runs" / "typo")])
    assert fake_extract == []


def test_same_name_twice_is_told_apart(seqs, fake_extract):
    rs = api.benchmark_images(seqs, features="sift", extractors=[_Ext("sift")])
    assert [r.method for r in rs] == ["sift (features)", "sift (extractor)"]


@pytest.mark.parametrize("kw,frag", [
    (dict(features="sift", noise="t"), "precomputed --features cannot be re-noised"),
    (dict(features="sift", detector="orb"), "--detector needs --run or --descriptor"),
    (dict(features="sift", max_keypoints=10), "--max-keypoints needs"),
    (dict(features="sift", seed=1), "--seed needs"),
    (dict(extractors=[_Ext("e")], noise="e"), "cannot be re-noised"),
    (dict(descriptor="sift", noise="x"), "unknown noise level 'x'"),
    (dict(descriptor="sift", max_keypoints=0), "at least 1"),
    (dict(), "nothing to benchmark"),
    (dict(features="a/b"), "not a path"),
])
def test_settings_that_cannot_take_effect_are_errors(seqs, fake_extract, kw, frag):
    with pytest.raises(UsageError, match=frag.replace("(", r"\(")):
        api.benchmark_images(seqs, **kw)
    assert fake_extract == []  # refused before anything was built


def test_outputs_checked_first_and_nothing_half_written(seqs, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        api.benchmark_images(seqs, features="sift", json=tmp_path / "file" / "r.json")
    with pytest.raises(DataFormatError, match="no feature file"):
        api.benchmark_images(seqs, features="nosuch", json=tmp_path / "r.json", plot=tmp_path / "m.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_denoiser_rows_real(seqs, tmp_path):
    """--denoiser none --denoiser nlmeans --descriptor sift: two rows (plain and denoised SIFT), each
    with MMA and correct matches; the nlmeans row detects on the denoised image."""
    res = runner.invoke(app, ["benchmark", "images", str(seqs), "--denoiser", "none", "--denoiser", "nlmeans",
                              "--descriptor", "sift", "--noise", "t", "--max-keypoints", "150",
                              "--json", str(tmp_path / "d.json")], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "d.json").read_text())
    names = [m["method"] for m in doc["methods"]]
    assert names == ["sift noise t", "nlmeans+sift noise t"]
    for m in doc["methods"]:
        c = m["groups"]["overall"]["correct_matches_per_pair"]
        assert len(c) == 10 and all(a <= b for a, b in zip(c, c[1:]))  # non-decreasing with the threshold
        assert c[2] <= m["groups"]["overall"]["mean_matches_per_pair"]
    assert "nlmeans+sift" in res.stdout and "correct@3" in res.stdout


def test_denoiser_settings_are_checked(seqs, fake_extract):
    with pytest.raises(UsageError, match="--denoiser needs --descriptor"):
        api.benchmark_images(seqs, features="sift", denoiser="nlmeans")
    api.benchmark_images(seqs, descriptor=["sift", "raw"], denoiser=["none", "nlmeans"], detect_on="noisy")
    assert [(c["descriptor"], c.get("denoiser"), c.get("detect_on")) for c in fake_extract] == [
        ("sift", "none", "noisy"), ("raw", "none", "noisy"), ("sift", "nlmeans", "noisy"), ("raw", "nlmeans", "noisy")]
    fake_extract.clear()
    with pytest.raises(UsageError, match="--detect-on noisy cannot take effect"):
        api.benchmark_images(seqs, descriptor="sift", denoiser="none", detect_on="noisy")


# ---- report --------------------------------------------------------------------------------------

def test_tables_and_png(seqs, tmp_path):
    from rich.console import Console

    rs = api.benchmark_images(seqs, features=["sift", "grid"], d2net_subset=True)
    con = Console(width=120, record=True)
    for t in (report.results_table(rs), report.homography_table(rs), report.timing_table(rs)):
        con.print(t)
    text = " ".join(con.export_text().split())  # a long title wraps at the table's width
    for frag in ("MMA@1", "MMA@3", "MMA@5", "MMA@10", "correct@3", "<=1px", "<=5px", "median px", "overall", "grid",
                 "features", "matching", "homography", "D2-Net subset"):
        assert frag in text
    report.plot_mma(rs, tmp_path / "m.png")
    img = cv2.imread(str(tmp_path / "m.png"))
    assert img is not None and img.shape[1] > img.shape[0]  # three columns (MMA over correct matches)
    assert report.plot_groups(rs) == ["i", "v", "overall"]


def test_plot_has_no_empty_panel(seqs, tmp_path, monkeypatch):
    """Only v_ sequences: the plot has the viewpoint and overall columns, each with curves; none empty."""
    import matplotlib.figure

    only_v = tmp_path / "only_v"
    only_v.mkdir()
    for f in find_sequences(seqs):
        if f.name.startswith("v_"):
            (only_v / f.name).symlink_to(f, target_is_directory=True)
    rs = api.benchmark_images(only_v, features=["sift", "grid"])
    assert report.plot_groups(rs) == ["v", "overall"]
    seen = []
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(fig, *a, **k):
        seen.append([(ax.get_title(), len(ax.get_lines())) for ax in fig.axes])
        return real_savefig(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    report.plot_mma(rs, tmp_path / "v.png")
    axes = seen[0]
    assert len(axes) == 4 and all(n == 2 for _, n in axes)  # 2 groups x (MMA, correct): every panel has both curves
    assert not any("illumination" in t for t, _ in axes)
    assert cv2.imread(str(tmp_path / "v.png")) is not None


# ---- CLI -----------------------------------------------------------------------------------------

def test_cli_features_compare_json_plot(seqs, tmp_path, monkeypatch):
    monkeypatch.setattr("hpdesc.cli.benchmark_images.quiet_import_keras", lambda: pytest.fail("Keras imported"))
    res = runner.invoke(app, ["benchmark", "images", str(seqs), "--features", "sift", "--compare", "grid",
                              "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "m.png"), "--d2net-subset"],
                        env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "MMA@3" in res.stdout and "sift" in res.stdout and "grid" in res.stdout
    assert "D2-Net subset: left out 0 of the 8" in res.stderr
    assert "wrote" in res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [m["method"] for m in doc["methods"]] == ["sift", "grid"] and doc["methods"][0]["d2net_subset"]


def test_cli_runs_and_descriptors(seqs, tmp_path, fake_extract):
    res = runner.invoke(app, ["benchmark", "images", str(seqs), "--descriptor", "sift", "--descriptor", "raw",
                              "--detector", "orb", "--max-keypoints", "50", "--noise", "h", "--seed", "2",
                              "--set", "descriptor.x=1"])
    assert res.exit_code == 0, res.output
    assert [c["descriptor"] for c in fake_extract] == ["sift", "raw"]
    assert {(c["detector"], c["max_keypoints"], c["noise"], c["seed"], c["sets"]) for c in fake_extract} == \
        {("orb", 50, "h", 2, ("descriptor.x=1",))}


@pytest.mark.parametrize("args,code,frag", [
    (["--features", "sift", "--noise", "t"], 2, "cannot be re-noised"),
    (["--features", "sift", "--set", "a=1"], 2, "--set needs --run or --descriptor"),
    (["--features", "nosuch"], 1, "no feature file"),
    (["--descriptor", "nosuch"], 2, "unknown descriptor 'nosuch'"),
    ([], 2, "nothing to benchmark"),
])
def test_cli_bad_input_is_one_line(seqs, tmp_path, fake_extract, args, code, frag):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["benchmark", "images", str(seqs), *args, "--json", str(out)])
    _one_line_error(res, code, frag)
    assert not out.exists()


def test_cli_missing_homography(seqs, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(seqs, bad)
    victim = find_sequences(bad)[1]
    (victim / "H_1_5").unlink()
    _one_line_error(runner.invoke(app, ["benchmark", "images", str(bad), "--features", "sift"]), 1,
                    f"{victim.name}: missing homography H_1_5")


def test_cli_unreadable_image(seqs, tmp_path, fake_extract):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(seqs, bad)
    (find_sequences(bad)[0] / "3.ppm").write_bytes(b"P6\nbroken")
    _one_line_error(runner.invoke(app, ["benchmark", "images", str(bad), "--descriptor", "sift"]), 1,
                    "3.ppm: cannot read image")


def test_patch_benchmark_and_other_subcommands_still_parse(tmp_path):
    res = runner.invoke(app, ["benchmark", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "images" in res.stdout and "export-csv" in res.stdout
    res = runner.invoke(app, ["benchmark", "--descriptors", str(tmp_path / "none.h5")])
    assert res.exit_code != 0 and "Traceback" not in res.output and "none.h5" in res.stderr
    res = runner.invoke(app, ["benchmark", "images", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "--d2net-subset" in res.stdout and "Example:" in res.stdout
