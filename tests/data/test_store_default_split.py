"""One default-split rule for every command (benchmark, describe_run, the denoising table)."""

from __future__ import annotations

import pytest

from hpdesc.data.store import default_split
from hpdesc.errors import DataFormatError


def test_default_split_prefers_the_given_then_the_first_by_name():
    splits = {"b": {}, "a": {}, "full": {}}
    assert default_split(splits, "full") == "full"
    assert default_split(splits, None, "zz") == "a"
    assert default_split({"default": {}}, "a") == "default"
    with pytest.raises(DataFormatError, match="no splits"):
        default_split({}, "a")
