"""`hpdesc features` and `hpdesc match`: files written, tables printed, and bad input as one line (exit 2)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc.cli.main import app
from hpdesc.matching.features import load_features
from tests.matching.imagepath import photo_pair, tiny_run  # noqa: F401 - fixtures

runner = CliRunner()


def _one_line_error(res, needle: str, code: int = 2) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and "bug in hpdesc" not in res.output, res.output
    assert res.stderr.startswith("error: "), res.stderr
    assert needle in " ".join(res.stderr.split()), res.stderr


@pytest.fixture()
def pair(photo_pair, tmp_path):
    """The photo pair copied into a fresh folder (files are written beside the images)."""
    p1, p2 = tmp_path / "1.png", tmp_path / "2.png"
    shutil.copy(photo_pair[0], p1)
    shutil.copy(photo_pair[1], p2)
    return p1, p2, photo_pair[2]


def test_features_beside_the_images(pair):
    p1, p2, _ = pair
    res = runner.invoke(app, ["features", str(p1), str(p2), "--descriptor", "sift", "--max-keypoints", "100"])
    assert res.exit_code == 0, res.output
    f1, f2 = (load_features(p.parent / f"{p.name}.sift") for p in (p1, p2))
    assert len(f1) == len(f2) == 100 and f1.dim == f2.dim == 128
    assert "features: sift" in res.stdout and "100" in res.stdout


def test_features_of_a_run_under_out(pair, tiny_run, tmp_path):
    p1, _, _ = pair
    out = tmp_path / "feats"
    res = runner.invoke(app, ["features", str(p1), "--run", str(tiny_run), "--max-keypoints", "50",
                              "--noise", "h", "--out", str(out)])
    assert res.exit_code == 0, res.output
    f = load_features(out / "1.png.hpdesc-tinyrun-noise_h")
    assert len(f) == 50 and f.dim == 16
    assert sorted(p.name for p in out.iterdir()) == ["1.png.hpdesc-tinyrun-noise_h"]


def test_match_writes_picture_and_json(pair, tmp_path):
    p1, p2, H_true = pair
    png, js = tmp_path / "m.png", tmp_path / "m.json"
    res = runner.invoke(app, ["match", str(p1), str(p2), "--descriptor", "sift", "--max-keypoints", "500",
                              "--out", str(png), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert "inliers" in res.stdout and f"wrote {png}" in res.stdout
    pic = cv2.imread(str(png))
    assert pic.shape[1] == 2 * 320 + 8
    d = json.loads(js.read_text())
    assert {"keypoints1", "keypoints2", "matches", "inliers", "H", "estimator", "threshold"} <= set(d)
    assert d["estimator"] == "USAC_MAGSAC" and len(d["inliers"]) == len(d["matches"]) > 50
    assert 100 < len(d["keypoints1"]) <= 500 and 100 < len(d["keypoints2"]) <= 500 and len(d["keypoints1"][0]) == 2
    H = np.array(d["H"])
    c = np.array([[0, 0, 1], [320, 0, 1], [320, 240, 1], [0, 240, 1]], float)
    a, b = c @ H.T, c @ H_true.T
    assert np.linalg.norm(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:], axis=1).mean() < 3.0


def test_blank_image_is_a_note_not_a_crash(pair, tmp_path):
    p1, _, _ = pair
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160), 128, np.uint8))
    res = runner.invoke(app, ["features", str(blank), "--descriptor", "sift"])
    assert res.exit_code == 0, res.output
    assert "no keypoints" in res.stderr and len(load_features(tmp_path / "blank.png.sift")) == 0
    png, js = tmp_path / "m.png", tmp_path / "m.json"
    res = runner.invoke(app, ["match", str(p1), str(blank), "--descriptor", "sift", "--out", str(png), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert "no matches" in " ".join(res.stderr.split()) and png.is_file()
    d = json.loads(js.read_text())
    assert d["H"] is None and d["matches"] == [] and d["keypoints2"] == []


@pytest.mark.parametrize("args, needle", [
    (["features", "{p1}"], "exactly one of --run RUN_DIR and --descriptor NAME"),
    (["features", "{p1}", "--descriptor", "sift", "--run", "{tmp}"], "exactly one"),
    (["features", "{p1}", "--descriptor", "sift", "--detector", "sfit"], "unknown detector 'sfit'. Did you mean 'sift'?"),
    (["features", "{p1}", "{tmp}/missing.png", "--descriptor", "sift"], "missing.png: no such image file"),
    (["features", "{p1}", "{tmp}/junk.png", "--descriptor", "sift"], "junk.png"),
    (["features", "{p1}", "--descriptor", "sift", "--noise", "x"], "noise level"),
    (["features", "{p1}", "--descriptor", "sift", "--max-keypoints", "0"], "max_keypoints"),
    (["features", "{p1}", "{tmp}/sub/1.png", "--descriptor", "sift", "--out", "{tmp}/o"], "would both write"),
    (["match", "{p1}", "{tmp}/missing.png", "--descriptor", "sift", "--out", "{tmp}/m.png"], "no such image file"),
    (["match", "{p1}", "{p2}", "--descriptor", "sift", "--ratio", "1.5", "--out", "{tmp}/m.png"], "ratio"),
    (["match", "{p1}", "{p2}", "--out", "{tmp}/m.png"], "exactly one"),
    (["match", "{p1}", "{p2}", "--descriptor", "sift", "--out", "{p1}/m.png"], "cannot write"),
])
def test_bad_input_is_one_line_and_writes_nothing(pair, tmp_path, args, needle):
    p1, p2, _ = pair
    (tmp_path / "junk.png").write_bytes(b"not an image")
    (tmp_path / "sub").mkdir()
    shutil.copy(p1, tmp_path / "sub" / "1.png")
    before = sorted(tmp_path.rglob("*"))
    res = runner.invoke(app, [a.format(p1=p1, p2=p2, tmp=tmp_path) for a in args])
    _one_line_error(res, needle, code=res.exit_code if res.exit_code in (1, 2) else 2)
    assert res.exit_code == (1 if "junk" in needle else 2)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("command", ["features", "match"])
def test_every_cli_option_exists_in_the_api(command):
    import importlib
    import inspect

    import hpdesc

    cli = importlib.import_module(f"hpdesc.cli.{command}")
    api_params = set(inspect.signature(getattr(hpdesc, command)).parameters)
    cli_params = {p.rstrip("_").replace("set", "sets") for p in inspect.signature(getattr(cli, f"_{command}")).parameters}
    assert cli_params - {"images", "image1", "image2"} <= api_params, cli_params - api_params
