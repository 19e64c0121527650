"""Data-parallel training (tf.distribute): 2 logical CPUs vs 1 device, 2 workers on loopback, a killed worker;
and two JAX processes (keras.distribution) on loopback.

Every real distributed run happens in subprocesses with hard timeouts (a strategy must be created
before TensorFlow runs anything, and a multi-worker run needs one process per worker); those tests
are marked ``multiproc`` and run with ``python -m pytest -q -n 2 -m multiproc``. The quick run
keeps the plumbing in-process: the unit checks, a one-device MirroredStrategy, and the chief /
other-worker bookkeeping of a 2-worker cluster without collectives.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny import TINY, make_tiny_dataset  # noqa: E402

import hpdesc  # noqa: E402
from hpdesc.errors import ConfigError, TrainingError, UsageError  # noqa: E402
from hpdesc.training import distribute as D  # noqa: E402

pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                                reason="tf.distribute tests need the TensorFlow backend")

# the same global batch on 1 and on 2 replicas; dropout off (its masks differ per replica) and a
# per-triplet loss (HardNet's in-batch mining sees only a replica's share of the batch)
EQUIV = TINY + ["benchmark.enabled=false", "descriptor_loss=triplet", "descriptor.dropout=0.0"]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HPDESC_NO_PROGRESS="1", CUDA_VISIBLE_DEVICES="",
           KERAS_BACKEND="tensorflow")

MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    n = int(sys.argv[1])
    if n > 1:  # logical CPU devices must be declared before TensorFlow initialises
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    import hpdesc
    r = hpdesc.train(data=sys.argv[2], out=sys.argv[3], sets=json.loads(sys.argv[4]), epochs=2, seed=3,
                     distribute="mirrored" if n > 1 else "none")
    print("HISTORY", json.dumps(r.history))
""")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _workers(args, ports, logs_dir: Path, tag: str):
    procs = []
    for i in range(len(ports)):
        log = open(logs_dir / f"{tag}{i}.log", "w")
        env = dict(ENV, TF_CONFIG=_tf_config(ports, i))
        procs.append((subprocess.Popen([sys.executable, "-m", "hpdesc", "train", *args], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=logs_dir), log))
    return procs


def _wait(procs, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for p, log in procs:
        try:
            codes.append(p.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait(timeout=30))
        log.close()
    return codes


def _sets(items):
    return [a for s in items for a in ("--set", s)]


def _same_epoch_lines(logs):
    """Every worker prints the same losses and spread: validation is global and the batch-norm
    recalibration after each epoch gives every worker the same statistics (Cluster.stats_forward)."""
    def lines(log):
        return [ln.rsplit(" (", 1)[0] for ln in log.splitlines() if " epoch " in ln and "loss=" in ln]
    assert lines(logs[0]) and lines(logs[0]) == lines(logs[1]), (lines(logs[0]), lines(logs[1]))


# -- unit checks -------------------------------------------------------------------------------------
def test_config_and_cluster_arithmetic():
    from hpdesc import config as C

    assert C.resolve(None, sets=["training.distribute=mirrored"]).training.distribute == "mirrored"
    with pytest.raises(ConfigError, match="training.distribute must be one of"):
        C.resolve(None, sets=["training.distribute=horovod"])
    with pytest.raises(ConfigError, match="lr_scaling"):
        C.resolve(None, sets=["training.lr_scaling=sqrt"])
    c = D.Cluster("multi-worker", "tensorflow", num_workers=2, worker_index=1, num_replicas=4, local_replicas=2,
                  lr_scaling="linear")
    assert c.local_batch(32) == 16 and not c.is_chief
    with pytest.raises(ConfigError, match="not divisible by the 4 replicas"):
        c.local_batch(30)
    assert c.shard(["d", "a", "c", "b", "e"]) == ["b", "d"]
    assert c.learning_rate(1e-3) == pytest.approx(4e-3)
    with pytest.raises(UsageError, match="cannot be shared"):
        c.shard(["a"])
    one = D.Cluster()
    assert one.shard(["b", "a"]) == ["b", "a"] and one.local_batch(30) == 30 and one.learning_rate(0.1) == 0.1


def test_tf_config_identity():
    workers = {"cluster": {"worker": ["h1:1", "h2:1", "h3:1"]}, "task": {"type": "worker", "index": 2}}
    assert D.tf_config_identity(json.dumps(workers)) == (2, 3)
    chief = {"cluster": {"chief": ["c:1"], "worker": ["h1:1"]}, "task": {"type": "worker", "index": 0}}
    assert D.tf_config_identity(json.dumps(chief)) == (1, 2)
    chief["task"] = {"type": "chief", "index": 0}
    assert D.tf_config_identity(json.dumps(chief)) == (0, 2)
    assert D.tf_config_identity("") == (0, 1)
    with pytest.raises(UsageError, match="TF_CONFIG"):
        D.tf_config_identity("{not json")


# -- the engine modules behind one interface (in-process; no strategy unless said) --------------------------
def test_check_config_imports_no_engine():
    # hpdesc.config calls check_config: loading a config must not import an engine (nor numpy)
    code = ("import sys; from hpdesc.training.distribute import check_config; import hpdesc.config as C; "
            "C.resolve(None); check_config('mirrored', 'linear'); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'numpy') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(ENV, PYTHONPATH=os.pathsep.join(sys.path)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip() == "[]", res.stdout


def test_each_engine_has_a_cluster_module_behind_one_interface():
    from hpdesc.training.distribute import base
    from hpdesc.training.distribute import jax as DJ
    from hpdesc.training.distribute import tf as DT

    assert D.Cluster is base.Cluster and D.check_config is base.check_config and D.MODES == base.MODES
    assert D.tf_config_identity is DT.tf_config_identity
    assert {name: getattr(D, mod).make_cluster for name, mod in D.BACKENDS.items()} == {
        "tensorflow": DT.make_cluster, "jax": DJ.make_cluster}
    model = object()
    for cluster in (D.Cluster(), DT.TFCluster("mirrored"), DJ.JaxCluster("multi-worker", num_workers=2)):
        assert isinstance(cluster, D.Cluster)
        # one device, or no strategy: every engine hook leaves things alone
        assert cluster.trainer(model) is model and cluster.for_inference(model) is model
        assert cluster.stats_forward(model) is None
        with cluster.alone():
            pass
    assert DT.TFCluster().backend == "tensorflow" and DJ.JaxCluster().backend == "jax"
    assert D.active().describe() == "one device"


def test_peer_failures_become_one_training_error_per_engine():
    from hpdesc.training.distribute.jax import JaxCluster
    from hpdesc.training.distribute.tf import TFCluster

    class UnavailableError(Exception):  # the class name is what identifies TensorFlow's error
        pass

    gloo = RuntimeError("Gloo: Connection closed by peer")
    tf2 = TFCluster("multi-worker", num_workers=2, worker_index=1, num_replicas=2)
    err = tf2.peer_error(UnavailableError("socket closed"))
    assert isinstance(err, TrainingError) and tf2.peer_failed
    assert str(err).startswith("worker 1: another worker of this 2-worker run stopped responding or failed "
                               "(UnavailableError: socket closed)") and "--resume" in err.hint
    assert tf2.peer_error(gloo) is gloo  # TensorFlow: a JAX status text is no peer failure
    jx = JaxCluster("multi-worker", num_workers=2, num_replicas=2)
    assert not jx.peer_failed and isinstance(jx.peer_error(gloo), TrainingError) and jx.peer_failed
    assert JaxCluster("mirrored").peer_error(gloo) is gloo  # one worker: no peer to blame
    with pytest.raises(TrainingError, match="stopped responding"):
        with JaxCluster("multi-worker", num_workers=2).errors():
            raise UnavailableError("x")
    with pytest.raises(ValueError, match="a bug"):
        with jx.errors():
            raise ValueError("a bug")


def test_batchnorm_walk_uses_public_api_and_finds_what_keras_finds():
    import keras

    from hpdesc import registry
    from hpdesc.models.walk import batchnorm_layers
    from hpdesc.training.wrappers import DenoiserTrainer, TripletTrainer

    def keras_walk(model):  # Keras' private walk, which the public one replaces
        return {id(la) for la in model._flatten_layers(include_self=False)
                if isinstance(la, keras.layers.BatchNormalization)}

    # every registered model but resnet50 (5 s to build): its BN sit in a nested functional model,
    # as in the nested Sequential below; and onnx, which needs a model file (and has no layers)
    models = [registry.build(kind, name, input_shape=(32, 32, 1))
              for kind in ("denoiser", "descriptor") for name in registry.names(kind)
              if name not in ("resnet50", "onnx")]
    models.append(DenoiserTrainer(registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3),
                                  registry.build("denoiser_loss", "mse")))
    models.append(TripletTrainer(registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4),
                                 registry.build("descriptor_loss", "hardnet")))
    models.append(keras.Sequential([keras.Input((2, 4)), keras.layers.TimeDistributed(keras.layers.BatchNormalization()),
                                    keras.Sequential([keras.layers.BatchNormalization()])]))
    assert sum(bool(keras_walk(m)) for m in models) >= 4, [m.name for m in models]
    for m in models:
        got = [id(la) for la in batchnorm_layers(m)]
        assert len(got) == len(set(got)) and set(got) == keras_walk(m), m.name


def test_tf_cluster_on_one_device_trains_like_no_cluster_and_detaches_inference():
    import keras
    import numpy as np
    import tensorflow as tf

    from hpdesc import registry
    from hpdesc.models.walk import batchnorm_layers
    from hpdesc.training.distribute.tf import TFCluster
    from hpdesc.training.wrappers import DenoiserTrainer

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    cluster = TFCluster("mirrored", num_replicas=1, local_replicas=1, strategy=strategy)

    def build():
        keras.utils.set_random_seed(0)
        net = registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=8)
        tr = DenoiserTrainer(net, registry.build("denoiser_loss", "mse"))
        tr.compile(optimizer=registry.build("optimizer", "adam", learning_rate=1e-2), jit_compile=False)
        tr.build((None, 32, 32, 1))
        return net, tr

    with cluster.scope():
        net, tr = build()
    ref_net, ref = build()
    assert batchnorm_layers(tr) and net.distribute_strategy is strategy
    rng = np.random.default_rng(0)
    trainer = cluster.trainer(tr)
    for _ in range(3):
        clean = rng.random((8, 32, 32, 1), dtype=np.float32)
        x = (clean + 0.1 * rng.normal(size=clean.shape)).astype(np.float32)
        want = float(ref.train_on_batch(x, clean, return_dict=True)["loss"])
        assert float(trainer.train_on_batch(x, clean, return_dict=True)["loss"]) == pytest.approx(want, rel=1e-4)
    assert not any(la.synchronized for la in batchnorm_layers(tr))  # only while a step runs
    assert cluster.stats_forward(net) is None  # one worker: a plain call recalibrates
    assert cluster.for_inference(net) is net and net.distribute_strategy is not strategy
    np.testing.assert_allclose(net.predict_on_batch(x), ref_net.predict_on_batch(x), rtol=1e-4, atol=1e-5)


# -- in-process plumbing: the quick run's stand-ins for the multiproc tests below ---------------------------
def _as_cluster(monkeypatch, cluster):
    """Train in this process as ``cluster`` (setup() makes its real strategy once per process)."""
    monkeypatch.setattr(D, "setup", lambda training: cluster)
    monkeypatch.setattr(D, "active", lambda: cluster)


def test_mirrored_strategy_in_process_matches_one_device(tiny_data, tmp_path, monkeypatch):
    """The tf.distribute path (replica trainer, split batches, per-worker inference) on one CPU replica."""
    import tensorflow as tf

    plain = hpdesc.train(data=tiny_data, sets=EQUIV, epochs=1, seed=3, out=tmp_path / "plain")
    from hpdesc.training.distribute.tf import TFCluster

    _as_cluster(monkeypatch, TFCluster("mirrored", num_replicas=1, local_replicas=1,
                                       strategy=tf.distribute.MirroredStrategy(["/cpu:0"])))
    mirrored = hpdesc.train(data=tiny_data, sets=EQUIV, epochs=1, seed=3, out=tmp_path / "m", distribute="mirrored")
    assert mirrored.config.training.distribute == "mirrored"
    # the denoiser sees the same batches: the same losses up to float rounding; the descriptor's pool
    # is denoised under the strategy, whose rounding differs slightly (measured 2e-3 on val_loss)
    for stage, rel in (("denoiser", 1e-4), ("descriptor", 1e-2)):
        assert len(plain.history[stage]) == 1, plain.history
        for a, b in zip(plain.history[stage], mirrored.history[stage], strict=True):
            for key in ("loss", "val_loss"):
                assert b[key] == pytest.approx(a[key], rel=rel), (stage, key, a, b)
    assert (tmp_path / "m" / "descriptor.keras").is_file()


def test_two_worker_bookkeeping_in_process(tiny_data, tmp_path, monkeypatch):
    """Worker 1 of 2 trains its shard in a scratch copy without the benchmark; the chief writes the run."""
    from hpdesc.training.distribute.tf import TFCluster

    out = tmp_path / "runs" / "mw"
    kw = dict(data=tiny_data, sets=TINY, epochs=1, seed=3, out=out, distribute="multi-worker")
    other = TFCluster("multi-worker", num_workers=2, worker_index=1, num_replicas=2, local_replicas=1)
    _as_cluster(monkeypatch, other)
    res = hpdesc.train(**kw)
    assert res.finished and not res.benchmark
    scratch = Path(res.run_dir)
    assert not out.exists() and not scratch.is_relative_to(tmp_path)  # nothing from worker 1 in the runs folder
    assert (scratch / "checkpoints" / "descriptor_last.npz").is_file() and not (scratch / "benchmark.json").exists()

    chief = TFCluster("multi-worker", num_workers=2, worker_index=0, num_replicas=2, local_replicas=1)
    _as_cluster(monkeypatch, chief)
    res = hpdesc.train(**kw)
    assert res.finished and Path(res.run_dir) == out
    for name in ("config.toml", "descriptor.keras", "benchmark.json", "state.json", "checkpoints/descriptor_last.npz"):
        assert (out / name).is_file(), name

    # a resumed worker 1 starts from a private copy of the chief's resume state, and writes nothing there
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    _as_cluster(monkeypatch, other)
    again = hpdesc.train(resume=out)
    copy = Path(again.run_dir)
    assert copy != out and copy != scratch
    assert (copy / "state.json").read_text() == (out / "state.json").read_text()
    assert (copy / "checkpoints" / "descriptor_last.npz").is_file() and not (copy / "benchmark.json").exists()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


# -- MirroredStrategy over 2 logical CPU devices == one device ---------------------------------------------
@pytest.mark.multiproc
def test_mirrored_two_logical_cpus_matches_one_device(tiny_data, tmp_path):
    hist = {}
    for n in (1, 2):
        res = subprocess.run([sys.executable, "-c", MIRRORED, str(n), str(tiny_data), str(tmp_path / f"r{n}"),
                              json.dumps(EQUIV)], env=ENV, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        line = next(x for x in res.stdout.splitlines() if x.startswith("HISTORY "))
        hist[n] = json.loads(line[len("HISTORY "):])
    for stage in ("denoiser", "descriptor"):
        assert len(hist[1][stage]) == 2, hist  # two epochs each: the comparison below is not vacuous
        for a, b in zip(hist[1][stage], hist[2][stage], strict=True):
            for key in ("loss", "val_loss"):
                assert b[key] == pytest.approx(a[key], rel=2e-3), (stage, key, a, b)
    assert (tmp_path / "r2" / "descriptor.keras").is_file()


# -- two worker processes on 127.0.0.1 ---------------------------------------------------------------------
@pytest.mark.multiproc
def test_two_workers_on_loopback_train_and_only_the_chief_writes(tiny_data, tmp_path):
    out = tmp_path / "runs" / "mw"
    # the default precision (bfloat16 compute): a cross-worker gather of bfloat16 outputs used to fail
    procs = _workers(["--data", str(tiny_data), *_sets(TINY + ["training.precision=mixed"]), "--epochs", "2", "--seed", "3",
                      "--distribute", "multi-worker", "--out", str(out)], _free_ports(2), tmp_path, "w")
    codes = _wait(procs, 300)
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n----\n".join(x[-3000:] for x in logs)
    for name in ("config.toml", "denoiser.keras", "descriptor.keras", "history_denoiser.csv",
                 "history_descriptor.csv", "curves_denoiser.png", "benchmark.json", "state.json",
                 "descriptors_test.h5", "checkpoints/descriptor_last.npz"):
        assert (out / name).is_file(), name
    assert json.loads((out / "state.json").read_text())["finished"]
    # nothing from worker 1; `latest` is the chief's (the workers' runs root is ./runs = out.parent here)
    assert sorted(p.name for p in out.parent.iterdir()) == ["latest", "mw"]
    assert (out.parent / "latest").read_text() == f"{out.resolve()}\n"
    scratch = [ln.split("run directory:", 1)[1].strip() for ln in logs[1].splitlines() if "run directory:" in ln]
    assert scratch and not Path(scratch[-1]).exists()  # worker 1's scratch copy is gone
    assert "denoiser epoch 2/2" in logs[0] and "denoiser epoch 2/2" in logs[1]
    _same_epoch_lines(logs)


@pytest.mark.multiproc
def test_killed_worker_fails_the_other_clearly_then_resumes(tiny_data, tmp_path):
    out = tmp_path / "mw"
    long = _sets(TINY + ["training.denoiser_epochs=40", "training.descriptor_epochs=1", "benchmark.enabled=false",
                         "training.denoiser_samples_per_epoch=256"])
    procs = _workers(["--data", str(tiny_data), *long, "--seed", "3", "--distribute", "multi-worker",
                      "--out", str(out)], _free_ports(2), tmp_path, "k")
    deadline = time.monotonic() + 240
    while "denoiser epoch 2/40" not in (tmp_path / "k1.log").read_text() and time.monotonic() < deadline:
        if any(p.poll() is not None for p, _ in procs):
            break
        time.sleep(0.2)
    assert procs[1][0].poll() is None, (tmp_path / "k1.log").read_text()[-3000:]
    procs[1][0].kill()
    codes = _wait(procs[:1], 180)  # a hang is killed at the deadline: its status is not 1
    _wait(procs[1:], 30)
    log = (tmp_path / "k0.log").read_text()
    assert codes[0] == 1, log[-3000:]
    assert "stopped responding or failed" in log and "--resume" in log, log[-3000:]
    assert "Traceback" not in log
    assert (out / "checkpoints" / "denoiser_last.npz").exists() and not (out / "denoiser.keras").exists()

    # restart both workers: they continue from the chief's last checkpoint and finish
    procs = _workers(["--resume", str(out)], _free_ports(2), tmp_path, "r")
    codes = _wait(procs, 300)
    logs = [(tmp_path / f"r{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n----\n".join(x[-3000:] for x in logs)
    assert "resumed after epoch" in logs[0] and "resumed after epoch" in logs[1]
    assert json.loads((out / "state.json").read_text())["finished"]


# -- two JAX processes on 127.0.0.1 (keras.distribution.initialize + DataParallel) ------------------------
def _jax_workers(jax_env, args, tmp_path: Path, tag: str, n: int = 2):
    """``hpdesc train ARGS`` in ``n`` JAX processes on 127.0.0.1 (keras.distribution.initialize)."""
    port = _free_ports(1)[0]
    procs = []
    for i in range(n):
        log = open(tmp_path / f"{tag}{i}.log", "w")
        env = jax_env(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                      KERAS_DISTRIBUTION_JOB_ADDRESSES=",".join([f"127.0.0.1:{port}"] * n),
                      KERAS_DISTRIBUTION_NUM_PROCESSES=str(n), KERAS_DISTRIBUTION_PROCESS_ID=str(i))
        procs.append((subprocess.Popen([sys.executable, "-m", "hpdesc", "train", *args], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=tmp_path), log))
    return procs


@pytest.mark.multiproc
def test_two_jax_processes_train_to_completion(tiny_data, tmp_path, jax_env):
    out = tmp_path / "runs" / "jx"
    args = ["--data", str(tiny_data), *_sets(TINY + ["training.precision=mixed"]), "--epochs", "2", "--seed", "3",
            "--distribute", "multi-worker",
            "--out", str(out)]
    procs = _jax_workers(jax_env, args, tmp_path, "j")
    codes = _wait(procs, 300)
    logs = [(tmp_path / f"j{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n----\n".join(x[-3000:] for x in logs)
    for name in ("denoiser.keras", "descriptor.keras", "history_descriptor.csv", "benchmark.json", "state.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "state.json").read_text())["finished"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["jx"]  # nothing from process 1 (latest: in the runs root)
    assert "descriptor epoch 2/2" in logs[0] and "descriptor epoch 2/2" in logs[1]
    _same_epoch_lines(logs)
    table = re.compile(r"HPatches (benchmark|comparison)")  # cli.render's title of the results table
    assert table.search(logs[0]) and not table.search(logs[1])  # the chief benchmarks alone
    scratch = [ln.split("run directory:", 1)[1].strip() for ln in logs[1].splitlines() if "run directory:" in ln]
    assert scratch and not Path(scratch[-1]).exists()


@pytest.mark.multiproc
@pytest.mark.parametrize("victim", [1, 0])  # another process / the chief (it hosts the jax.distributed service)
def test_killed_jax_process_fails_the_other_clearly_then_resumes(tiny_data, tmp_path, victim, jax_env):
    out = tmp_path / "jk"
    long = _sets(TINY + ["training.denoiser_epochs=6", "training.descriptor_epochs=1", "benchmark.enabled=false",
                         "training.denoiser_samples_per_epoch=256"])
    procs = _jax_workers(jax_env, ["--data", str(tiny_data), *long, "--seed", "3", "--distribute", "multi-worker",
                                   "--out", str(out)], tmp_path, "k")
    other = 1 - victim
    deadline = time.monotonic() + 240
    while "denoiser epoch 2/6" not in (tmp_path / f"k{victim}.log").read_text() and time.monotonic() < deadline:
        if any(p.poll() is not None for p, _ in procs):
            break
        time.sleep(0.2)
    assert procs[victim][0].poll() is None, (tmp_path / f"k{victim}.log").read_text()[-3000:]
    procs[victim][0].kill()
    code = _wait(procs[other:other + 1], 180)[0]
    _wait(procs[victim:victim + 1], 30)
    log = (tmp_path / f"k{other}.log").read_text()
    assert code == 1, log[-3000:]  # not a hang (killed at the deadline), not an abort in jax.distributed's shutdown
    assert f"error: worker {other}: another worker of this 2-worker run stopped responding or failed" in log, log[-3000:]
    assert "--resume" in log and "Traceback" not in log
    assert (out / "checkpoints" / "denoiser_last.npz").exists() and not (out / "denoiser.keras").exists()

    # restart both processes with --resume: they continue from the chief's last checkpoint and finish
    procs = _jax_workers(jax_env, ["--resume", str(out)], tmp_path, "r")
    codes = _wait(procs, 300)
    logs = [(tmp_path / f"r{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n----\n".join(x[-3000:] for x in logs)
    assert all("denoiser: resumed after epoch" in x and "denoiser epoch 6/6" in x for x in logs)
    assert json.loads((out / "state.json").read_text())["finished"]
