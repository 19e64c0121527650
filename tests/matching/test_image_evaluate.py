"""The image-matching protocol: a hand-computed case, a reference loop on random data, and bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hpdesc.errors import DataFormatError, UsageError
from hpdesc.matching import evaluate as E
from hpdesc.matching.features import Features, feature_path, save_features


def _image(path, h, w, seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    assert cv2.imwrite(str(path), img)


def _sequence(root, name, Hs, feats, sizes=None, method="m"):
    """A sequence folder: images (random pixels, sizes[k-1] or 80x100), H_1_k, and feature files."""
    d = root / name
    d.mkdir(parents=True)
    for k in range(1, 7):
        h, w = (sizes or {}).get(k, (80, 100))
        _image(d / f"{k}.ppm", h, w, k)
        if feats is not None:
            save_features(feature_path(d / f"{k}.ppm", method), feats[k - 1])
    for k in range(2, 7):
        np.savetxt(d / f"H_1_{k}", Hs[k - 2], fmt="%.17g")
    return d


def _feats(kp, desc):
    kp = np.asarray(kp, np.float64).reshape(-1, 2)
    return Features(kp, np.ones(len(kp)), np.asarray(desc, np.float32).reshape(len(kp), -1))


# ---- hand-computed case ---------------------------------------------------------------------------

T = np.array([[1.0, 0, 10], [0, 1, -5], [0, 0, 1]])  # x + 10, y - 5
KP1 = np.array([[5, 10], [60, 12], [30, 40], [80, 70], [15, 65], [50, 25], [70, 45], [25, 20], [90, 10], [40, 60]], float)
# offsets of image-k keypoints from the projections: 6 exact, 1.5 px, 5 px (3-4-5), two at 12 px
OFFSETS = np.array([[0, 0]] * 6 + [[1.5, 0], [3, 4], [12, 0], [0, -12]], float)
ACC_V = np.array([6, 7, 7, 7, 8, 8, 8, 8, 8, 8]) / 10  # fraction within 1..10 px


@pytest.fixture()
def hand(tmp_path):
    root = tmp_path / "seqs"
    eye10 = np.eye(10)  # one-hot descriptors: match i <-> i
    kpk = KP1 + [10, -5] + OFFSETS
    _sequence(root, "v_hand", [T] * 5, [_feats(KP1, eye10)] + [_feats(kpk, eye10)] * 5)
    # i_: pair 1-2 all exact (4 points), images 3..6 have no keypoints
    sq = np.array([[10, 10], [90, 12], [85, 70], [12, 66]], float)
    empty = Features(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 4), np.float32))
    _sequence(root, "i_hand", [np.eye(3)] * 5, [_feats(sq, np.eye(4)), _feats(sq, np.eye(4))] + [empty] * 4)
    return root


def test_hand_computed_mma_and_counts(hand):
    r = E.evaluate(hand, "m")
    np.testing.assert_allclose(r.mma("v"), ACC_V, atol=1e-12)
    np.testing.assert_allclose(r.mma("i"), np.full(10, 0.2), atol=1e-12)  # 1 perfect pair of 5
    np.testing.assert_allclose(r.mma("overall"), (5 * ACC_V + 1) / 10, atol=1e-12)
    assert r.mma("overall")[0] == pytest.approx(0.4) and r.mma("overall")[4] == pytest.approx(0.5)
    assert (r.n_pairs("i"), r.n_pairs("v"), r.n_pairs()) == (5, 5, 10)
    assert r.zero_match_pairs() == 4 and r.zero_match_pairs("v") == 0
    assert r.mean_keypoints() == pytest.approx((6 * 10 + 2 * 4) / 12)
    assert r.mean_matches() == pytest.approx((5 * 10 + 4) / 10)
    assert any("4 of 10 pairs without matches" in n for n in r.notes)
    assert any("4 image(s) without keypoints" in n for n in r.notes)
    # homography: every v_ pair and the exact i_ pair are recovered, the 4 empty pairs fail
    h = r.homography()
    assert h["shares"] == {"1": 0.6, "3": 0.6, "5": 0.6} and h["failures"] == 4
    assert h["median_error"] is not None and h["median_error"] < 1.0  # 6 finite of 10: median finite
    assert r.homography("i")["median_error"] is None  # 4 of 5 failed: the median is a failure
    d = r.to_dict()
    assert d["groups"]["v"]["mma"] == pytest.approx(list(ACC_V))
    assert len(d["groups"]["overall"]["mma"]) == 10
    assert d["groups"]["i"]["pairs_without_matches"] == 4
    assert "USAC_MAGSAC" in d["homography_estimator"] and "3 px" in d["homography_estimator"]


def test_hand_computed_correct_matches(hand):
    """Correct matches per pair: v_ pairs 6 exact + 1.5 px + 5 px of 10 matches; i_ one pair with 4 exact of 5."""
    r = E.evaluate(hand, "m")
    np.testing.assert_array_equal(r.correct_matches("v"), ACC_V * 10)  # 6, 7, 7, 7, 8, ... per pair
    np.testing.assert_allclose(r.correct_matches("i"), np.full(10, 4 / 5))  # 4 correct in 1 of 5 pairs
    np.testing.assert_allclose(r.correct_matches(), (5 * ACC_V * 10 + 4) / 10)
    assert r.correct_matches()[2] == pytest.approx((5 * 7 + 4) / 10)
    d = r.to_dict()["groups"]
    assert d["v"]["correct_matches_per_pair"][2] == 7 and d["overall"]["correct_matches_per_pair"][2] == pytest.approx(3.9)


def test_corner_error_by_hand():
    # the estimate is off by (3, 4) everywhere: every corner 5 px away
    off = np.array([[1.0, 0, 13], [0, 1, -1], [0, 0, 1]])
    assert E.corner_error(off, T, 100, 80) == pytest.approx(5.0)
    # a scale of 2 about the origin vs identity on a 100 x 80 image: corners move 0, 100, |(100, 80)|, 80
    S = np.diag([2.0, 2.0, 1.0])
    assert E.corner_error(S, np.eye(3), 100, 80) == pytest.approx((0 + 100 + math.hypot(100, 80) + 80) / 4)
    # the projective division is done: [[1,0,0],[0,1,0],[0,0,2]] halves every coordinate
    half = np.diag([1.0, 1.0, 2.0])
    assert E.corner_error(half, np.eye(3), 100, 80) == pytest.approx((0 + 50 + math.hypot(50, 40) + 40) / 4)
    assert E.corner_error(None, T, 100, 80) == math.inf


def test_distances_use_the_homogeneous_division():
    H = np.array([[2.0, 0, 0], [0, 2, 0], [0, 0, 2]])  # the identity up to scale
    m = np.array([[0, 0]])
    assert E.match_distances(np.array([[10.0, 20]]), np.array([[10.0, 20]]), m, H)[0] == pytest.approx(0)


# ---- reference loop on random data ------------------------------------------------------------

def _random_homography(rng):
    H = np.eye(3) + np.c_[rng.normal(0, 0.02, (3, 2)), rng.normal(0, 3, 3)]
    H[2] = [rng.normal(0, 1e-4), rng.normal(0, 1e-4), 1.0]
    return H


def _reference(root, method, sizes):
    """The protocol as a plain loop: brute-force mutual NN, per-match projection, per-pair means."""
    accs = {"i": [], "v": []}
    errs = []
    for seq in sorted(p for p in root.iterdir() if p.is_dir()):
        data = [np.load(seq / f"{k}.ppm.{method}") for k in range(1, 7)]
        for k in range(2, 7):
            H = np.loadtxt(seq / f"H_1_{k}")
            a, b = data[0]["descriptors"].astype(np.float64), data[k - 1]["descriptors"].astype(np.float64)
            ka, kb = data[0]["keypoints"][:, :2], data[k - 1]["keypoints"][:, :2]
            d = np.array([[np.sum((a[i] - b[j]) ** 2) for j in range(len(b))] for i in range(len(a))])
            matches = [(i, int(np.argmin(d[i]))) for i in range(len(a)) if int(np.argmin(d[:, np.argmin(d[i])])) == i]
            dist = []
            for i, j in matches:
                x, y = ka[i]
                p = H @ np.array([x, y, 1.0])
                dist.append(math.hypot(p[0] / p[2] - kb[j][0], p[1] / p[2] - kb[j][1]))
            accs[seq.name[0]].append([sum(e <= t for e in dist) / len(dist) if dist else 0.0 for t in range(1, 11)])
            h, w = sizes[seq.name]
            if len(matches) >= 4:
                Hest, _ = cv2.findHomography(ka[[i for i, _ in matches]].reshape(-1, 1, 2).astype(np.float64),
                                             kb[[j for _, j in matches]].reshape(-1, 1, 2).astype(np.float64),
                                             cv2.USAC_MAGSAC, 3.0, maxIters=10000, confidence=0.999)
            else:
                Hest = None
            if Hest is None:
                errs.append(math.inf)
                continue
            e = 0.0
            for x, y in [(0, 0), (w, 0), (w, h), (0, h)]:
                p, q = Hest @ [x, y, 1.0], H @ [x, y, 1.0]
                e += math.hypot(p[0] / p[2] - q[0] / q[2], p[1] / p[2] - q[1] / q[2]) / 4
            errs.append(e)
    mma = {g: np.mean(v, axis=0) for g, v in accs.items()}
    mma["overall"] = np.mean(accs["i"] + accs["v"], axis=0)
    return mma, np.array(errs)


def test_agrees_with_a_reference_loop_on_random_data(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "seqs"
    sizes = {}
    for s, name in enumerate(["i_a", "i_b", "v_a", "v_b", "v_c"]):
        Hs = [np.eye(3) if name[0] == "i" else _random_homography(rng) for _ in range(5)]
        h, w = int(rng.integers(60, 120)), int(rng.integers(60, 120))
        sizes[name] = (h, w)
        n = int(rng.integers(30, 60))
        kp1 = rng.uniform(0, [w, h], (n, 2))
        desc1 = rng.normal(size=(n, 16))
        feats = [_feats(kp1, desc1)]
        for k in range(2, 7):
            m = int(rng.integers(20, 60))
            src = rng.integers(0, n, m)
            kpk = E.project(Hs[k - 2], kp1[src]) + rng.normal(0, 2.5, (m, 2))
            desck = desc1[src] + rng.normal(0, 0.6, (m, 16))
            feats.append(_feats(kpk, desck))
        _sequence(root, name, Hs, feats, sizes={k: (h, w) for k in range(1, 7)}, method="rnd")
    r = E.evaluate(root, "rnd")
    mma, errs = _reference(root, "rnd", sizes)
    for g in E.GROUPS:
        np.testing.assert_allclose(r.mma(g), mma[g], rtol=0, atol=1e-9)
    ours = np.array([p.corner_error for p in r.pairs])
    assert np.array_equal(np.isfinite(ours), np.isfinite(errs))
    np.testing.assert_allclose(ours[np.isfinite(ours)], errs[np.isfinite(errs)], rtol=0, atol=1e-9)
    assert 0.05 < r.mma("v")[2] < 0.95  # a non-trivial case
    for t in (1, 3, 5):
        assert r.homography()["shares"][str(t)] == pytest.approx(np.mean(errs <= t), abs=1e-12)


# ---- sizes, extractors, subsets and bad input ---------------------------------------------------

class _Sift:
    """A tiny extractor for tests: OpenCV SIFT on the uint8 image."""

    name = "test-sift"

    def __init__(self):
        self.sift = cv2.SIFT_create(nfeatures=300)
        self.shapes = []

    def __call__(self, image):
        self.shapes.append(image.shape)
        kps, desc = self.sift.detectAndCompute((image * 255).round().astype(np.uint8), None)
        pts = np.array([k.pt for k in kps], np.float64).reshape(-1, 2)
        return Features(pts, np.array([k.response for k in kps]), desc if desc is not None else np.zeros((0, 128)))


def test_an_extractor_object_on_synthetic_sequences(tmp_path):
    from hpdesc.data.synth import write_sequences

    root = write_sequences(tmp_path / "seqs", n_sequences=2, image_size=160)
    ext = _Sift()
    r = E.evaluate(root, ext)
    assert r.method == "test-sift" and r.source == "extractor" and len(ext.shapes) == 12
    assert r.mma("overall")[2] > 0.5 and r.mma("v")[9] > 0.5  # SIFT matches these well
    assert r.homography("i")["shares"]["3"] > 0.5
    assert set(r.seconds) == {"read", "features", "matching", "homography"}


def test_images_of_different_sizes_in_one_sequence(tmp_path):
    """Corners are image 1's; an extractor sees every image at its own size."""
    root = tmp_path / "seqs"
    sizes = {1: (90, 130), 2: (60, 70), 3: (120, 50), 4: (80, 100), 5: (81, 101), 6: (40, 44)}
    off = np.array([[1.0, 0, 3], [0, 1, 4], [0, 0, 1]])
    _sequence(root, "v_sizes", [off] * 5, None, sizes=sizes)
    ext = _Sift()
    E.evaluate(root, ext)
    assert ext.shapes == [sizes[k] for k in range(1, 7)]
    # features that follow a scaling S while the ground truth is `off`: the corner error is
    # measured on image 1's corners (130 x 90), whatever the size of image k
    S = np.diag([1.1, 1.1, 1.0])
    kp1 = np.random.default_rng(0).uniform(0, [130, 90], (20, 2))
    feats = [_feats(kp1, np.eye(20))] + [_feats(E.project(S, kp1), np.eye(20))] * 5
    root2 = tmp_path / "seqs2"
    _sequence(root2, "v_sizes", [off] * 5, feats, sizes=sizes)
    r = E.evaluate(root2, "m")
    expected = E.corner_error(S, off, 130, 90)
    assert expected != pytest.approx(E.corner_error(S, off, 44, 40))  # the size matters
    for p in r.pairs:
        assert p.corner_error == pytest.approx(expected, abs=1e-4)  # MAGSAC refits to ~1e-6 px


def test_pairs_without_keypoints_do_not_crash(tmp_path):
    root = tmp_path / "seqs"
    empty = Features(np.zeros((0, 2)), np.zeros(0), np.zeros((0, 0), np.float32))
    _sequence(root, "v_empty", [T] * 5, [empty] * 6)
    r = E.evaluate(root, "m")
    assert np.array_equal(r.mma(), np.zeros(10)) and r.mma("i") is None
    assert r.zero_match_pairs() == 5 and r.homography()["failures"] == 5
    assert r.to_dict()["groups"]["i"]["mma"] is None


def test_missing_homography_is_one_clear_error_before_any_work(hand):
    (hand / "v_hand" / "H_1_4").unlink()
    calls = []

    class Spy(_Sift):
        def __call__(self, image):
            calls.append(1)
            return super().__call__(image)

    with pytest.raises(DataFormatError, match=r"v_hand: missing homography H_1_4"):
        E.evaluate(hand, Spy())
    assert calls == []


def test_missing_feature_file_names_it(hand):
    (hand / "i_hand" / "5.ppm.m").unlink()
    with pytest.raises(DataFormatError, match=r"no feature file .*i_hand/5\.ppm\.m for method 'm'"):
        E.evaluate(hand, "m")
    with pytest.raises(DataFormatError, match=r"no feature file .*1\.ppm\.other \(and 11 more\)"):
        E.evaluate(hand, "other")


def test_feature_file_missing_a_field_names_it(hand):
    p = hand / "v_hand" / "3.ppm.m"
    with open(p, "wb") as f:
        np.savez(f, keypoints=np.zeros((2, 2)))
    with pytest.raises(DataFormatError, match=r"3\.ppm\.m has no descriptors"):
        E.evaluate(hand, "m")


def test_mismatched_descriptor_widths_name_both_files(hand):
    save_features(hand / "v_hand" / "4.ppm.m", _feats(KP1, np.zeros((10, 7))))
    with pytest.raises(DataFormatError, match=r"descriptor widths differ: .*v_hand/1\.ppm\.m has 10, .*v_hand/4\.ppm\.m has 7"):
        E.evaluate(hand, "m")


def test_d2net_subset_drops_the_listed_sequences_and_says_so(hand):
    for name in ("i_dc", "v_talent"):
        (hand / name).symlink_to(hand / "v_hand")
    full = E.evaluate(hand, "m")
    sub = E.evaluate(hand, "m", d2net_subset=True)
    assert len(full.sequences) == 4 and sub.sequences == ["i_hand", "v_hand"]
    assert sub.dropped == ["i_dc", "v_talent"] and sub.to_dict()["d2net_subset"] is True
    assert any("D2-Net subset: left out 2 of the 8" in n and "i_dc, v_talent" in n for n in sub.notes)
    assert not any("D2-Net" in n for n in full.notes)
    only = E.evaluate(hand, "m", d2net_subset=True)
    assert only.n_pairs() == 10


def test_not_a_method_is_a_usage_error(hand):
    with pytest.raises(UsageError, match="not a feature method"):
        E.evaluate(hand, 42)
    with pytest.raises(UsageError, match="not a path"):
        E.evaluate(hand, "a/b")
