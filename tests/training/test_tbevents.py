"""TensorBoard logs without TensorFlow: the event files TensorFlow itself reads back."""

from __future__ import annotations

import subprocess
import sys


def test_logging_never_imports_tensorflow(tmp_path):
    code = ("import sys; from hpdesc.training.callbacks import TensorBoardLog; "
            f"t = TensorBoardLog({str(tmp_path)!r}); t.log(1, {{'loss': 0.5}}); t.close(); "
            "assert t.note is None, t.note; print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_event_file_reads_back_with_tensorflow(tmp_path):
    import tensorflow as tf

    from hpdesc.training.callbacks import TensorBoardLog
    from hpdesc.training.tbevents import crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    t = TensorBoardLog(tmp_path)
    t.log(1, {"loss": 0.5, "val_loss": 0.25, "epoch": 1, "lr": None})
    t.log(2, {"loss": 0.375})
    t.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    events = [tf.compat.v1.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert events[0].file_version == "brain.Event:2"
    got = [(e.step, {v.tag: v.simple_value for v in e.summary.value}) for e in events[1:]]
    assert got == [(1, {"loss": 0.5, "val_loss": 0.25}), (2, {"loss": 0.375})]
