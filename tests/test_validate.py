"""Pre-training component checks and saved-run component checks (hpdesc.validate)."""

from __future__ import annotations

import keras
import pytest

from hpdesc import registry
from hpdesc.errors import PluginError, UsageError
from hpdesc.validate import build_checked, check_run_components
from tests.fakedist import activate, make_dist

BAD = '''
"""Fake plugin components that break the contract in different ways."""
import keras
from keras import ops

from hpdesc.errors import ParameterError


def wrong_type(input_shape=(32, 32, 1)):
    """Returns a string instead of a model."""
    return "not a model"


def wrong_shape(input_shape=(32, 32, 1)):
    """A denoiser that halves the resolution."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.AveragePooling2D(2)(inputs))


def picky(input_shape=(32, 32, 1), width=4):
    """Only knows `width`."""
    if width < 1:
        raise ParameterError(f"parameter 'width' must be >= 1, got {width}")
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, inputs)


def crashes(input_shape=(32, 32, 1)):
    """Fails on its own while building (not because of its parameters)."""
    raise RuntimeError("CUDA out of memory")


def nan_model(input_shape=(32, 32, 1)):
    """Outputs NaN."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Lambda(lambda x: x * float("nan"))(inputs))


def desc_3d(input_shape=(32, 32, 1), dim=128):
    """A descriptor that forgets to flatten."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Conv2D(dim, 3)(inputs))


def desc_ok(input_shape=(32, 32, 1), dim=128):
    """A fine descriptor of any dim."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(4)(inputs))
    return keras.Model(inputs, keras.layers.Dense(dim)(x))


def vector_loss():
    """Forgets to reduce over the batch."""
    def loss(clean, denoised):
        return ops.mean(ops.abs(clean - denoised), axis=(1, 2, 3))
    return loss


def not_callable_loss():
    """Returns a number."""
    return 3.0


def not_optimizer(learning_rate=1e-3):
    """Returns the learning rate."""
    return learning_rate


def needs_64():
    """A descriptor loss for 64-d descriptors only."""
    def loss(anchor, positive, negative):
        if anchor.shape[-1] != 64:
            raise ValueError(f"expected 64-d descriptors, got {anchor.shape[-1]}")
        return ops.mean(ops.sum(anchor * (negative - positive), axis=-1))
    return loss
'''

PLUGIN = "fake-bad-plugin"
GROUPS = {
    "hpdesc.denoisers": {"wrong_type": "fakeplug_bad:wrong_type", "wrong_shape": "fakeplug_bad:wrong_shape",
                         "picky": "fakeplug_bad:picky", "crashes": "fakeplug_bad:crashes",
                         "nan_model": "fakeplug_bad:nan_model", "import_error": "fakeplug_broken:build"},
    "hpdesc.descriptors": {"desc_3d": "fakeplug_bad:desc_3d", "desc_ok": "fakeplug_bad:desc_ok"},
    "hpdesc.denoiser_losses": {"vector_loss": "fakeplug_bad:vector_loss",
                               "not_callable_loss": "fakeplug_bad:not_callable_loss"},
    "hpdesc.optimizers": {"not_optimizer": "fakeplug_bad:not_optimizer"},
    "hpdesc.descriptor_losses": {"needs_64": "fakeplug_bad:needs_64"},
}


@pytest.fixture()
def bad_plugin(tmp_path, monkeypatch):
    root = tmp_path / "site"
    make_dist(root, PLUGIN, "0.3.1", GROUPS,
              {"fakeplug_bad": BAD, "fakeplug_broken": "import libfoo_that_is_not_installed\n"})
    activate(root, monkeypatch)
    yield root
    registry.refresh()


def _assert_names_plugin(message: str, name: str):
    assert PLUGIN in message, message
    assert repr(name) in message, message


def test_plugin_that_raises_on_import(bad_plugin):
    with pytest.raises(PluginError) as info:
        build_checked("denoiser", "import_error", {})
    msg = info.value.message
    _assert_names_plugin(msg, "import_error")
    assert "0.3.1" in msg and "fakeplug_broken:build" in msg and "libfoo_that_is_not_installed" in msg
    assert "\n" not in msg


def test_plugin_that_returns_the_wrong_type(bad_plugin):
    with pytest.raises(PluginError) as info:
        build_checked("denoiser", "wrong_type", {})
    msg = info.value.message
    _assert_names_plugin(msg, "wrong_type")
    assert "returned str, expected a keras.Model" in msg
    assert "fakeplug_bad:wrong_type" in msg
    assert PLUGIN in info.value.hint and "hpdesc plugins" in info.value.hint


@pytest.mark.parametrize("kind,name,expected", [
    ("denoiser_loss", "not_callable_loss", "returned float, expected a callable loss"),
    ("optimizer", "not_optimizer", "returned float, expected a keras.optimizers.Optimizer"),
])
def test_losses_and_optimizers_of_the_wrong_type(bad_plugin, kind, name, expected):
    with pytest.raises(PluginError) as info:
        build_checked(kind, name, {})
    _assert_names_plugin(info.value.message, name)
    assert expected in info.value.message


def test_plugin_model_of_the_wrong_output_shape(bad_plugin):
    with pytest.raises(PluginError) as info:
        build_checked("denoiser", "wrong_shape", {})
    msg = info.value.message
    _assert_names_plugin(msg, "wrong_shape")
    assert "(2, 16, 16, 1)" in msg and "(2, 32, 32, 1)" in msg


def test_descriptor_that_is_not_2d(bad_plugin):
    with pytest.raises(PluginError) as info:
        build_checked("descriptor", "desc_3d", {}, dim=8)
    _assert_names_plugin(info.value.message, "desc_3d")
    assert "(2, 30, 30, 8)" in info.value.message and "(B, D)" in info.value.message


def test_plugin_that_rejects_a_parameter(bad_plugin):
    with pytest.raises(UsageError) as info:
        build_checked("denoiser", "picky", {"width": 0})
    msg = info.value.message
    _assert_names_plugin(msg, "picky")
    assert "width" in msg and "rejected" in msg
    with pytest.raises(UsageError) as info:
        build_checked("denoiser", "picky", {"depth": 3})
    _assert_names_plugin(info.value.message, "picky")
    assert "depth" in info.value.message and "width" in info.value.hint


def test_plugin_that_crashes_while_building(bad_plugin):
    with pytest.raises(PluginError) as info:
        build_checked("denoiser", "crashes", {})
    _assert_names_plugin(info.value.message, "crashes")
    assert "RuntimeError: CUDA out of memory" in info.value.message


def test_non_finite_output_and_non_scalar_loss(bad_plugin):
    with pytest.raises(PluginError, match="non-finite") as info:
        build_checked("denoiser", "nan_model", {})
    _assert_names_plugin(info.value.message, "nan_model")
    with pytest.raises(PluginError, match="expected a scalar") as info:
        build_checked("denoiser_loss", "vector_loss", {})
    _assert_names_plugin(info.value.message, "vector_loss")
    assert "(4,)" in info.value.message


def test_builtins_still_build_with_a_bad_plugin_installed(bad_plugin):
    for kind in ("denoiser", "descriptor", "denoiser_loss"):
        with pytest.raises(PluginError):
            build_checked(kind, {"denoiser": "wrong_shape", "descriptor": "desc_3d",
                                 "denoiser_loss": "vector_loss"}[kind], {}, dim=8)
    model = build_checked("denoiser", "dncnn", {"depth": 3, "filters": 4})
    assert isinstance(model, keras.Model)
    assert isinstance(build_checked("descriptor", "hardnet", {"filters": 4}, dim=16), keras.Model)
    assert isinstance(build_checked("descriptor", "desc_ok", {}, dim=16), keras.Model)
    assert callable(build_checked("denoiser_loss", "mse", {}))
    assert callable(build_checked("descriptor_loss", "hardnet", {}, dim=16))
    opt = build_checked("optimizer", "adam", {"learning_rate": 0.01})
    assert isinstance(opt, keras.optimizers.Optimizer)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.01)


def test_descriptor_of_another_dim_is_accepted():
    model = build_checked("descriptor", "raw", {"size": 8}, dim=128)  # raw gives size*size values
    assert model.output_shape == (None, 64)


def test_descriptor_dim_can_come_from_params():
    model = build_checked("descriptor", "hardnet", {"filters": 4, "dim": 32})
    assert model.output_shape == (None, 32)


def test_input_shape_cannot_be_set_by_hand():
    with pytest.raises(UsageError, match="input_shape"):
        build_checked("denoiser", "dncnn", {"input_shape": [16, 16, 1]})


# -- the component checks train and sweeps share -------------------------------------------------


def test_check_components_gives_the_descriptor_loss_the_descriptor_width(bad_plugin):
    from hpdesc import config as C
    from hpdesc.validate import check_components

    small = ["denoiser.depth=2", "denoiser.filters=4", "descriptor.filters=4", "descriptor_loss=needs_64"]
    entries = check_components(C.resolve(sets=[*small, "descriptor.dim=64"]))
    assert entries["descriptor_loss"]["distribution"] == PLUGIN
    assert set(entries) == set(C.COMPONENTS)
    with pytest.raises(PluginError, match="expected 64-d descriptors, got 32"):
        check_components(C.resolve(sets=[*small, "descriptor.dim=32"]))


def test_check_components_handles_a_descriptor_that_is_no_keras_graph():
    # sift computes with numpy (OpenCV): its width comes from the dummy forward pass, not output_shape
    from hpdesc import config as C
    from hpdesc.validate import check_components

    with pytest.raises(UsageError, match="sift is not trainable; use hpdesc describe --descriptor sift"):
        check_components(C.resolve(sets=["denoiser=identity", "descriptor=sift"]))


def test_train_builds_each_component_once_before_failing(tmp_path, monkeypatch):
    from collections import Counter

    from hpdesc import api

    built, build = Counter(), registry.build

    def counting(kind, name, **kw):
        built[kind] += 1
        return build(kind, name, **kw)

    monkeypatch.setattr(registry, "build", counting)
    with pytest.raises(UsageError, match="no such dataset file"):
        api.train(data=tmp_path / "missing.h5", out=tmp_path / "run",
                  sets=["denoiser.depth=2", "denoiser.filters=4", "descriptor.filters=4"])
    assert built == {"denoiser": 1, "descriptor": 1, "denoiser_loss": 1, "descriptor_loss": 1, "optimizer": 2}
    assert not (tmp_path / "run").exists()


# -- saved runs -------------------------------------------------------------------------------


def test_run_components_present_are_loaded():
    rec = {"denoiser": {"name": "dncnn", "value": "hpdesc.models.denoisers.dncnn:dncnn",
                        "distribution": "hpdesc", "version": registry.get("denoiser", "dncnn").version},
           "denoiser_optimizer": {"name": "adam", "value": "hpdesc.optimizers:adam",
                                  "distribution": "hpdesc", "version": registry.get("optimizer", "adam").version}}
    entries = check_run_components(rec)
    assert [(e.kind, e.name) for e in entries] == [("denoiser", "dncnn"), ("optimizer", "adam")]


def test_run_component_from_missing_distribution_names_it():
    rec = {"denoiser": {"name": "ffdnet", "value": "hpdesc_ffdnet_gone.ffdnet:ffdnet",
                        "distribution": "hpdesc-ffdnet-gone", "version": "1.0.0"}}
    with pytest.raises(PluginError) as info:
        check_run_components(rec)
    msg = info.value.message
    assert "this run needs hpdesc-ffdnet-gone (1.0.0): pip install hpdesc-ffdnet-gone" in msg
    assert "'ffdnet'" in msg
    assert "pip install hpdesc-ffdnet-gone==1.0.0" in info.value.hint


def test_run_component_list_of_entries_and_version_warning(bad_plugin):
    entry = registry.get("descriptor", "desc_ok")
    older = registry.Entry(entry.kind, entry.name, entry.value, entry.distribution, "0.2.0")
    with pytest.warns(UserWarning, match="trained with fake-bad-plugin 0.2.0; 0.3.1 is installed"):
        (got,) = check_run_components([older])
    assert got == entry


def test_run_component_installed_but_broken(bad_plugin):
    rec = [{"kind": "denoiser", "name": "import_error", "value": "fakeplug_broken:build",
            "distribution": PLUGIN, "version": "0.3.1"}]
    with pytest.raises(PluginError) as info:
        check_run_components(rec)
    msg = info.value.message
    assert PLUGIN in msg and "does not load" in msg and "libfoo_that_is_not_installed" in msg


def test_run_components_accepts_a_whole_provenance_table():
    prov = {"hpdesc": "0.1.0", "keras": "3.15.1", "backend": "tensorflow",
            "descriptor_optimizer": {"name": "sgd", "value": "hpdesc.optimizers:sgd",
                                     "distribution": "hpdesc", "version": registry.get("optimizer", "sgd").version}}
    (entry,) = check_run_components(prov)
    assert (entry.kind, entry.name) == ("optimizer", "sgd")


# -- the copyable example in docs/plugins.md ----------------------------------------------------


def _doc_blocks(lang: str) -> list[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_docs_example_plugin(tmp_path, monkeypatch):
    """The minimal plugin of docs/plugins.md, installed as written, passes the pre-training checks."""
    import sys

    import numpy as np

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    (pyproject,) = [b for b in _doc_blocks("toml") if 'name = "my-hpdesc-plugin"' in b]
    (source,) = [b for b in _doc_blocks("python") if b.startswith("# my_hpdesc_plugin/components.py")]
    project = tomllib.loads(pyproject)["project"]
    root = tmp_path / "site"
    make_dist(root, project["name"], project["version"], project["entry-points"], {})
    (root / "my_hpdesc_plugin").mkdir()
    (root / "my_hpdesc_plugin" / "__init__.py").write_text("")
    (root / "my_hpdesc_plugin" / "components.py").write_text(source)
    for mod in [m for m in sys.modules if m.startswith("my_hpdesc_plugin")]:
        monkeypatch.delitem(sys.modules, mod)
    activate(root, monkeypatch)
    try:
        assert registry.get("descriptor", "tfeat").summary.startswith("TFeat-like descriptor")
        model = build_checked("descriptor", "tfeat", {"width": 4}, dim=16)
        build_checked("descriptor_loss", "soft_triplet", {"scale": 2.0}, dim=16)
        opt = build_checked("optimizer", "adamw", {"learning_rate": 0.01, "weight_decay": 0.01})
        assert isinstance(opt, keras.optimizers.AdamW)
        with pytest.raises(UsageError, match="width"):
            build_checked("descriptor", "tfeat", {"width": 0})
        path = tmp_path / "tfeat.keras"
        model.save(path)
        x = np.random.default_rng(0).random((2, 32, 32, 1), dtype=np.float32)
        again = keras.saving.load_model(path)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)),
                                   keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    finally:
        registry.refresh()
