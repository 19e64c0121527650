"""DescriptorSet.hold: one read into memory serves get / load exactly as the file does, read-only."""

import numpy as np
import pytest

from hpdesc.data.descfile import open_descriptors, write_descriptors

SEQS = ["i_a", "i_b", "v_c", "v_d"]


@pytest.fixture
def desc_file(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {s: rng.normal(size=(n, 16, 6)).astype(np.float32) for s, n in zip(SEQS, [5, 9, 3, 7])}
    return write_descriptors(tmp_path / "d.h5", SEQS, arrays, {"dataset": None, "descriptor": "toy"}), arrays


def test_held_reads_equal_file_reads_and_are_read_only(desc_file):
    path, arrays = desc_file
    with open_descriptors(path) as d:
        from_file = {s: d.get(s) for s in SEQS}
        loads = [(["v_c", "i_a"], None), (["i_b", "v_d"], [0, 3, 15]), (SEQS[:2], None), (SEQS, None), ([], None)]
        loaded = [d.load(s, im) for s, im in loads]
        d.hold(SEQS[:3])
        assert d.held == SEQS[:3]
        for s in SEQS:  # v_d is not held: read from the file
            np.testing.assert_array_equal(d.get(s), from_file[s])
            np.testing.assert_array_equal(d.get(s), arrays[s])
        for (s, im), (arr, starts) in zip(loads, loaded):
            got, got_starts = d.load(s, im)
            np.testing.assert_array_equal(got, arr)
            assert got_starts == starts
        held = d.get("i_b")
        assert not held.flags.writeable
        with pytest.raises(ValueError):
            held[0, 0, 0] = 1.0
        prefix, _ = d.load(SEQS[:2])  # a prefix of the held sequences: a view, no copy
        assert np.shares_memory(prefix, held)
        d.release()
        assert d.get("i_b").flags.writeable  # from the file again
