"""hpdesc.api: the Python API has every option of the CLI and maps it onto the domain functions."""

from __future__ import annotations

import json

import pytest

from hpdesc import api
from hpdesc.benchmark.evaluate import evaluate
from hpdesc.errors import UsageError
from hpdesc.progress import Reporter
from tests.benchmark.conftest import _cache_env, tiny  # noqa: F401 - the benchmark tests' fixtures


# -- benchmark ---------------------------------------------------------------------------------------
def test_benchmark_options_take_effect(tiny, tmp_path):
    r = api.benchmark(tiny["descriptors"], split="a", tasks=["matching"], protocol="paper", distance="L1",
                      cache=False)
    assert (r.protocol, r.distance, set(r.headline)) == ("paper", "L1", {"matching"})
    ref = evaluate(tiny["descriptors"], split="a", tasks=["matching"], protocol="paper", distance="L1", cache=False)
    assert r.headline == ref.headline
    assert not (tmp_path / "cache").exists()  # cache=False: nothing written


def test_benchmark_tasks_dir_cache_and_memory(tiny, tmp_path):
    from hpdesc.benchmark.tasks import load_tasks, write_task_csvs
    from hpdesc.data.store import open_dataset

    folder = tmp_path / "tasks"
    folder.mkdir()
    with open_dataset(tiny["dataset"]) as ds:
        write_task_csvs(load_tasks(ds, "a"), folder)
    r = api.benchmark(tiny["descriptors"], split="a", tasks=["verification"], tasks_dir=folder,
                      cache=tmp_path / "c", memory=10_000)
    assert str(folder) in json.dumps(r.sources)
    assert r.cached == []
    again = api.benchmark(tiny["descriptors"], split="a", tasks=["verification"], tasks_dir=folder,
                          cache=tmp_path / "c")
    assert again.cached == ["verification"] and again.headline == r.headline
    with pytest.raises(UsageError, match="memory"):
        api.benchmark(tiny["descriptors"], split="a", memory=0)


def test_benchmark_several_files_writes_outputs_and_reports_progress(tiny, tmp_path):
    bars = []

    class Rec(Reporter):
        def start(self, description, total):
            bars.append(description)

    out = {"json": tmp_path / "r.json", "markdown": tmp_path / "r.md", "plot": tmp_path / "p.png"}
    res = api.benchmark([tiny["descriptors"], tiny["descriptors"]], split="a", tasks=["retrieval"], cache=False,
                        progress=Rec(), **out)
    assert isinstance(res, list) and len(res) == 2
    assert bars == ["desc.h5: retrieval"] * 2
    assert len(json.loads(out["json"].read_text())["results"]) == 2
    assert "| toy" in out["markdown"].read_text() and out["plot"].read_bytes()[:4] == b"\x89PNG"


def test_benchmark_outputs_are_checked_before_the_evaluation(tiny, tmp_path, monkeypatch):
    from hpdesc.benchmark import evaluate as E

    monkeypatch.setattr(E, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking the outputs"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        api.benchmark(tiny["descriptors"], split="a", json=blocker / "r.json")


def _hand_made_run(root, dataset):
    """A run directory as training leaves it (config.toml, descriptor.keras), made without training."""
    from hpdesc import registry
    from hpdesc.training.run import RunDir

    run = RunDir(root)
    run.path.mkdir()
    cfg = api.resolve_config(denoiser="identity", descriptor="hardnet", data=dataset, split="a",
                             sets=["descriptor.filters=4", "descriptor.dim=8"])
    cfg.save(run.config)
    registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=8).save(run.model("descriptor"))
    return run.path


def test_benchmark_a_run_first_then_files(tiny, tmp_path):
    run = _hand_made_run(tmp_path / "run", tiny["dataset"])
    res = api.benchmark(tiny["descriptors"], run=run, split="a", tasks=["matching"], cache=False)
    assert isinstance(res, list) and [r.descriptor for r in res] == ["identity+hardnet (run run)", "toy"]
    assert res[0].dataset == str(tiny["dataset"].resolve())  # the run's own dataset (data not given)
    assert (run / "descriptors_test.h5").is_file()  # described into the run directory first
    one = api.benchmark(run=run, split="a", tasks=["matching"], cache=False)
    assert one.headline == res[0].headline  # a run alone: one result


def test_benchmark_with_nothing_and_no_runs_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "no-runs"))
    with pytest.raises(UsageError, match="nothing to benchmark: .*no trained run found"):
        api.benchmark()


# -- train's option rules ----------------------------------------------------------------------------------
def test_train_denoiser_alone_trains_no_descriptor():
    from hpdesc.training.start import new_run_config

    assert new_run_config(denoiser="unet").descriptor.name == "none"
    assert new_run_config(denoiser="unet", sets=["descriptor=hardnet"]).descriptor.name == "hardnet"
    assert new_run_config(denoiser="unet", descriptor="hardnet").descriptor.name == "hardnet"


def test_train_refuses_a_descriptor_that_does_not_exist(tmp_path):
    """The real train(): a descriptor named by a set that no distribution declares stops it, nothing written."""
    with pytest.raises(UsageError, match="unknown descriptor 'tfeat'"):
        api.train(denoiser="unet", sets=["descriptor=tfeat"], out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kw, flag", [({"out": "x"}, "--out"), ({"batch_size": 4}, "--batch-size"),
                                      ({"sets": ["training.seed=1"]}, "--set"), ({"skip_denoiser": True},
                                                                                "--skip-denoiser")])
def test_train_resume_refuses_every_other_setting(tmp_path, kw, flag):
    with pytest.raises(UsageError, match=f"--resume continues a run with its own config; drop {flag}"):
        api.train(resume=tmp_path / "run", **kw)


# -- describe ------------------------------------------------------------------------------------------------
def test_describe_takes_set_strings_like_the_cli(tmp_path):
    """``sets`` (the CLI's --set) are parsed here: a parameter for no model is refused, a bad key too."""
    with pytest.raises(UsageError, match="denoiser.depth cannot take effect"):
        api.describe(descriptor="raw", data=tmp_path / "d.h5", out=tmp_path / "x.h5", sets=["denoiser.depth=3"])
    with pytest.raises(UsageError, match="use denoiser.PARAM=VALUE or descriptor.PARAM=VALUE"):
        api.describe(descriptor="raw", data=tmp_path / "d.h5", out=tmp_path / "x.h5", sets=["training.seed=3"])
    assert not (tmp_path / "x.h5").exists()


def test_one_vocabulary_with_documented_aliases():
    import hpdesc

    assert hpdesc.evaluate is api.evaluate is api.benchmark
    assert hpdesc.evaluate_denoising is api.evaluate_denoising is api.benchmark_denoise
    assert hpdesc.export_run is api.export_run is api.export
