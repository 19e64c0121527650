"""User errors that used to crash as "a bug in hpdesc": one line, exit 2, nothing written.

Untrainable components given to ``hpdesc train`` (sift, raw, a fixed denoiser alone) and outputs
in places that cannot be written (a path under a regular file, ``/proc``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpdesc.cli.main import app
from tests.benchmark.conftest import make_dataset, make_descriptors

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
from tiny import TINY, make_tiny_dataset, tiny_sets  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _one_line_usage_error(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "bug in hpdesc" not in res.output, res.output
    assert res.stderr.startswith("error: "), res.stderr
    assert needle in " ".join(res.stderr.split()), res.stderr  # rich may wrap a long line


# -- untrainable components (issue 13, item 4a) ----------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    # a weightless descriptor behind a trainable denoiser trains the denoiser (tests/models/test_onnx.py)
    (["--denoiser", "identity", "--descriptor", "sift"], "sift is not trainable; use hpdesc describe --descriptor sift"),
    (["--denoiser", "median", "--descriptor", "raw"], "raw is not trainable; use hpdesc describe --descriptor raw"),
    (["--skip-denoiser", "--descriptor", "sift"], "sift is not trainable; use hpdesc describe --descriptor sift"),
    (["--denoiser", "identity", "--descriptor", "none"],
     "identity is not trainable; use hpdesc denoise --denoiser identity"),
])
def test_train_untrainable_component(tiny_data, tmp_path, monkeypatch, args, needle):
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "runs"))
    before = _files(tmp_path)
    cmd = ["train", "--data", str(tiny_data), "--epochs", "1", *args]
    # parameters for the models these flags replace would be refused before the trainability check
    for s in tiny_sets(denoiser="--denoiser" not in args and "--skip-denoiser" not in args,
                       descriptor="--descriptor" not in args):
        cmd += ["--set", s]
    res = runner.invoke(app, cmd)
    _one_line_usage_error(res, needle)
    assert "epoch" not in res.output  # raised before the denoiser stage trains
    assert _files(tmp_path) == before  # no run directory, no runs root
    res = runner.invoke(app, cmd + ["--out", str(tmp_path / "r")])
    _one_line_usage_error(res, needle)
    assert _files(tmp_path) == before


def test_train_api_untrainable_descriptor(tiny_data, tmp_path):
    import hpdesc
    from hpdesc.errors import UsageError

    with pytest.raises(UsageError, match="sift is not trainable"):
        hpdesc.train(data=tiny_data, denoiser="identity", descriptor="sift",
                     sets=tiny_sets(denoiser=False, descriptor=False), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_sweep_with_untrainable_component_fails_before_any_run(tiny_data, tmp_path):
    from hpdesc.errors import ConfigError
    from hpdesc.experiments.sweepfile import load_sweep

    p = tmp_path / "sweep.toml"
    p.write_text(f"""\
mode = "grid"
out = "{tmp_path / 'sweep'}"
[base]
denoiser = "identity"
descriptor = "hardnet"
[base.data]
path = "{tiny_data}"
[[axis]]
key = "descriptor"
values = ["hardnet", "raw"]
""", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_sweep(p)
    msg = info.value.message
    assert msg.startswith(f"{p}:10: ") and "raw is not trainable; use hpdesc describe --descriptor raw" in msg
    res = runner.invoke(app, ["sweep", str(p)])
    _one_line_usage_error(res, "raw is not trainable")
    assert not (tmp_path / "sweep").exists()


# -- outputs that cannot be written (issue 13, item 4b) ----------------------------------------------
@pytest.fixture(params=["under-a-file", "proc"])
def bad_out(request, tmp_path):
    """``make(name)``: an unwritable path ending in ``name``."""
    if request.param == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc on this system")
        return lambda name: Path("/proc") / name
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder\n")
    return lambda name: blocker / name


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from hpdesc.data.descfile import write_descriptors

    root = tmp_path_factory.mktemp("bench")
    ds = make_dataset(root / "data.h5")
    desc = write_descriptors(root / "desc.h5", list(make_descriptors()), make_descriptors(),
                             {"dataset": str(ds), "descriptor": "toy", "run_dir": None})
    return {"dataset": ds, "descriptors": desc}


def _check_cannot_write(res, target: Path, tmp_path: Path, before: set[Path]) -> None:
    _one_line_usage_error(res, f"cannot write {target}: ")
    assert _files(tmp_path) == before  # nothing written, no temporary file left behind
    blocker = tmp_path / "file.txt"
    if blocker.exists():
        assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("command", [
    "describe", "denoise", "data synth", "data show", "data export", "benchmark --json", "benchmark --plot",
    "benchmark --markdown", "benchmark export-csv", "benchmark import-csv", "train --out", "train runs root",
    "sweep --out", "compare --out",
])
def test_unwritable_output(command, bad_out, tmp_path, tiny_data, bench, monkeypatch):
    aside = tmp_path.parent / f"{tmp_path.name}-aside"  # inputs, caches: outside the watched tree
    aside.mkdir()
    monkeypatch.setenv("HPDESC_CACHE_DIR", str(aside / "cache"))
    target = bad_out({"data export": "nh", "benchmark export-csv": "csv", "train --out": "run",
                      "train runs root": "runs", "sweep --out": "sweep", "compare --out": "report",
                      "benchmark --plot": "x.png", "data show": "x.png", "benchmark --markdown": "x.md",
                      "benchmark --json": "x.json"}.get(command, "x.h5"))
    shown = target  # what the message names
    data, desc = str(tiny_data), str(bench["descriptors"])
    bench_args = ["benchmark", "--descriptors", desc, "--data", str(bench["dataset"]), "--split", "a",
                  "--task", "verification"]
    if command == "describe":
        args = ["describe", "--descriptor", "raw", "--data", data, "--out", str(target)]
    elif command == "denoise":
        args = ["denoise", "--denoiser", "identity", "--data", data, "--out", str(target)]
    elif command == "data synth":
        args = ["data", "synth", "--sequences", "2", "--patches", "4", "--out", str(target)]
    elif command == "data show":
        args = ["data", "show", data, "--patches", "2", "--out", str(target)]
    elif command == "data export":
        args = ["data", "export", data, "--out", str(target)]
    elif command.startswith("benchmark --"):
        args = bench_args + [command.split()[1], str(target)]
    elif command == "benchmark export-csv":
        args = ["benchmark", "export-csv", desc, str(target)]
    elif command == "benchmark import-csv":
        from hpdesc.benchmark.csvio import export_csv

        src = export_csv(desc, aside / "csv", "toy")
        args = ["benchmark", "import-csv", str(src), "--data", str(bench["dataset"]), "--out", str(target)]
    elif command == "train --out":
        args = ["train", "--data", data, "--denoiser", "dncnn", "--descriptor", "none", "--epochs", "1",
                "--out", str(target)]
        for s in tiny_sets(descriptor=False):
            args += ["--set", s]
    elif command == "train runs root":
        monkeypatch.setenv("HPDESC_RUNS", str(target))
        args = ["train", "--data", data, "--denoiser", "dncnn", "--descriptor", "none", "--epochs", "1"]
        for s in tiny_sets(descriptor=False):
            args += ["--set", s]
    elif command == "sweep --out":
        p = aside / "sweep.toml"
        p.write_text(f'mode = "grid"\n[base]\ndescriptor = "none"\n[base.data]\npath = "{data}"\n'
                     '[base.denoiser]\nname = "dncnn"\ndepth = 3\nfilters = 4\n'
                     '[[axis]]\nkey = "training.seed"\nvalues = [1]\n', encoding="utf-8")
        args = ["sweep", str(p), "--out", str(target)]
    else:  # compare --out: a finished-looking run to report on
        run = aside / "run"
        run.mkdir()
        (run / "config.toml").write_text('[denoiser]\nname = "dncnn"\n[descriptor]\nname = "none"\n')
        (run / "history_denoiser.csv").write_text("epoch,loss,val_loss\n1,0.5,0.4\n")
        args = ["compare", str(run), "--out", str(target)]
    before = _files(tmp_path)
    res = runner.invoke(app, args)
    _check_cannot_write(res, shown, tmp_path, before)
    assert "epoch" not in res.output  # train: refused before anything trains


def test_out_that_is_a_folder(tmp_path, tiny_data):
    folder = tmp_path / "existing"
    folder.mkdir()
    before = _files(tmp_path)
    res = runner.invoke(app, ["describe", "--descriptor", "raw", "--data", str(tiny_data), "--out", str(folder)])
    _check_cannot_write(res, folder, tmp_path, before)
    assert "it is a folder" in res.stderr


def test_run_directory_that_is_a_file(tmp_path, tiny_data):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder\n")
    before = _files(tmp_path)
    res = runner.invoke(app, ["train", "--data", str(tiny_data), "--denoiser", "dncnn", "--descriptor", "none",
                              "--out", str(blocker), *[a for s in tiny_sets(descriptor=False) for a in ("--set", s)]])
    _check_cannot_write(res, blocker, tmp_path, before)
    assert "it is a file, not a folder" in res.stderr


def test_make_dirs_names_what_is_in_the_way(tmp_path):
    from hpdesc.atomic import make_dirs
    from hpdesc.errors import WriteError

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file\.txt: .*file\.txt is not a folder"):
        make_dirs(blocker)
    with pytest.raises(WriteError, match=r"cannot write .*run: .*file\.txt is not a folder"):
        make_dirs(blocker / "sub", target=tmp_path / "run")


def test_atomic_path_reports_the_target(tmp_path):
    from hpdesc.atomic import atomic_path, write_text_atomic
    from hpdesc.errors import UsageError

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UsageError, match=r"cannot write .*file\.txt/a/b\.txt: .*file\.txt is not a folder") as info:
        write_text_atomic(blocker / "a" / "b.txt", "hello")
    assert isinstance(info.value, OSError)  # callers that treat an optional write as harmless still can
    assert info.value.exit_code == 2
    if Path("/proc/self").is_dir():
        with pytest.raises(UsageError, match=r"cannot write /proc/x\.h5: "):
            with atomic_path("/proc/x.h5"):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


LAZY = '''
"""Subclassed plugin descriptors: weights made on the first call, none at all, frozen."""
import keras


class Lazy(keras.Model):
    def __init__(self, dim=8, **kwargs):
        super().__init__(**kwargs)
        self.flat = keras.layers.Flatten()
        self.dense = keras.layers.Dense(dim)

    def call(self, x):
        return self.dense(self.flat(x))


class Fixed(keras.Model):
    def call(self, x):
        return keras.ops.reshape(x, (keras.ops.shape(x)[0], -1))


def lazy(input_shape=(32, 32, 1), dim=8):
    """Makes its weights on the first call."""
    return Lazy(dim)


def fixed(input_shape=(32, 32, 1), dim=8):
    """No weights at all."""
    return Fixed()


def frozen(input_shape=(32, 32, 1), dim=8):
    """Weights, all frozen."""
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, keras.layers.Dense(dim)(keras.layers.Flatten()(inputs)))
    model.trainable = False
    return model
'''


@pytest.fixture()
def lazy_plugin(tmp_path, monkeypatch):
    from hpdesc import registry
    from tests.fakedist import activate, make_dist

    root = tmp_path / "site"
    make_dist(root, "lazy-plugin", "0.1.0",
              {"hpdesc.descriptors": {n: f"fakeplug_lazy:{n}" for n in ("lazy", "fixed", "frozen")}},
              {"fakeplug_lazy": LAZY})
    activate(root, monkeypatch)
    yield
    registry.refresh()


def test_trainability_is_judged_on_built_weights(lazy_plugin):
    from hpdesc import config as C
    from hpdesc.errors import UsageError
    from hpdesc.training.pipeline import _build
    from hpdesc.validate import check_components

    cfg = C.resolve(sets=["descriptor=lazy"])
    check_components(cfg)  # no weights until its first call: still trainable
    assert _build("descriptor", cfg, "descriptor").trainable_weights  # so the pipeline trains it
    for name in ("fixed", "frozen"):
        with pytest.raises(UsageError, match=f"{name} is not trainable; use hpdesc describe --descriptor {name}"):
            check_components(C.resolve(sets=["denoiser=identity", f"descriptor={name}"]))
        check_components(C.resolve(sets=[f"descriptor={name}"]))  # behind dncnn: only the denoiser trains
