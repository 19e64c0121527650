"""Descriptor file format and the hpatches-benchmark CSV round trip."""

import h5py
import numpy as np
import pytest

from hpdesc.benchmark.csvio import export_csv, import_csv
from hpdesc.data.descfile import open_descriptors, write_descriptors
from hpdesc.errors import DataFormatError, UsageError


def test_write_open_roundtrip_and_fingerprint(tiny, tmp_path):
    arrays = tiny["arrays"]
    seqs = list(arrays)[1:3]
    p = write_descriptors(tmp_path / "d.h5", seqs, arrays, {"dataset": "x", "descriptor": "toy", "run_dir": None})
    with open_descriptors(p) as d:
        assert d.sequences == seqs and d.dim == 8 and d.config["descriptor"] == "toy"
        np.testing.assert_array_equal(d.get(seqs[1]), arrays[seqs[1]])
        fp = d.fingerprint
    with h5py.File(p, "r+") as f:  # an older file without the cached attribute: recomputed in chunks
        del f.attrs["fingerprint"]
    with open_descriptors(p) as d:
        assert d.fingerprint == fp

    def stream():
        for s in seqs:
            yield s, arrays[s]
    p2 = write_descriptors(tmp_path / "s.h5", seqs, stream(), {}, counts=[len(arrays[s]) for s in seqs], dim=8)
    with open_descriptors(p2) as d:
        assert d.fingerprint == fp


def test_open_rejects_other_files(tiny, tmp_path):
    with pytest.raises(DataFormatError, match="not an hpdesc"):
        open_descriptors(tiny["dataset"])
    bad = tmp_path / "x.h5"
    bad.write_text("hello")
    with pytest.raises(DataFormatError, match="not an HDF5"):
        open_descriptors(bad)
    with pytest.raises(UsageError, match="no such file"):
        open_descriptors(tmp_path / "missing.h5")


def test_csv_roundtrip_and_delimiters(tiny, tmp_path):
    root = export_csv(tiny["descriptors"], tmp_path / "csv", name="toy")
    assert (root / "i_beta" / "t5.csv").exists()
    # rewrite one file with semicolons and one with whitespace: import detects them
    f1 = root / "i_beta" / "e2.csv"
    f1.write_text(f1.read_text().replace(",", ";"))
    f2 = root / "v_eps" / "h3.csv"
    f2.write_text(f2.read_text().replace(",", "  "))
    out = import_csv(root, tiny["dataset"], tmp_path / "imp.h5")
    with open_descriptors(out) as d, open_descriptors(tiny["descriptors"]) as src:
        assert d.sequences == src.sequences
        for s in d.sequences:
            np.testing.assert_array_equal(d.get(s), src.get(s))
        assert d.fingerprint == src.fingerprint


def test_csv_row_count_error_names_sequence_and_image(tiny, tmp_path):
    root = export_csv(tiny["descriptors"], tmp_path / "csv", name="toy")
    f = root / "v_delta" / "h4.csv"
    f.write_text("\n".join(f.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(DataFormatError, match=r"v_delta has 48 patches \(image h4\)"):
        import_csv(root, tiny["dataset"], tmp_path / "imp.h5")
    assert not (tmp_path / "imp.h5").exists()  # atomic: nothing half-written
