"""hpdesc.api: the Python API has every option of the CLI, and the option rules live here only."""

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


def test_benchmark_a_run_first_then_files(tiny, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(api, "describe_run", lambda run, data, split, progress=None:
                        calls.append((run, data, split)) or tiny["descriptors"])
    res = api.benchmark(tiny["descriptors"], run=tmp_path / "run", data=tiny["dataset"], split="a",
                        tasks=["matching"], cache=False)
    assert calls == [(tmp_path / "run", tiny["dataset"], "a")]
    assert isinstance(res, list) and len(res) == 2
    one = api.benchmark(run=tmp_path / "run", data=tiny["dataset"], split="a", tasks=["matching"], cache=False)
    assert one.headline == res[0].headline  # a run alone: one result


def test_benchmark_with_nothing_and_no_runs_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "latest_run", lambda: (_ for _ in ()).throw(UsageError("no runs found under X")))
    with pytest.raises(UsageError, match="nothing to benchmark: .*no trained run found"):
        api.benchmark()


# -- train's option rules (one copy, here) -----------------------------------------------------------------
@pytest.fixture
def resolved(monkeypatch):
    """train()'s resolved config, captured before anything is built or written."""
    seen = {}
    real = api.resolve_config

    def capture(*a, **k):
        seen["cfg"] = real(*a, **k)
        raise UsageError("stopped by the test")

    monkeypatch.setattr(api, "resolve_config", capture)
    return seen


def test_train_denoiser_alone_trains_no_descriptor(resolved, tmp_path):
    with pytest.raises(UsageError, match="stopped by the test"):
        api.train(denoiser="unet", out=tmp_path / "r")
    assert resolved["cfg"].denoiser.name == "unet" and resolved["cfg"].descriptor.name == "none"
    with pytest.raises(UsageError, match="stopped by the test"):
        api.train(denoiser="unet", sets=["descriptor=tfeat"], out=tmp_path / "r")
    assert resolved["cfg"].descriptor.name == "tfeat"
    with pytest.raises(UsageError, match="stopped by the test"):
        api.train(denoiser="unet", descriptor="hardnet", out=tmp_path / "r")
    assert resolved["cfg"].descriptor.name == "hardnet"


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
