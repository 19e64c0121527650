"""TensorBoard scalar logs written in plain Python: no TensorFlow, whatever the Keras backend.

An event file is a TFRecord stream (length, masked CRC-32C, payload, masked CRC-32C) of
``Event`` protocol buffers: the first carries ``file_version``, each later one a ``Summary`` of
``simple_value`` scalars (the format TensorBoard's scalars dashboard reads). Only the few
protobuf fields needed are encoded here, by hand.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    key = _varint((num << 3) | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def _event(step: int, *, file_version: str | None = None, scalars: dict | None = None) -> bytes:
    msg = _field(1, 1, struct.pack("<d", time.time())) + _field(2, 0, _varint(int(step)))
    if file_version is not None:
        msg += _field(3, 2, file_version.encode())
    if scalars:
        values = b"".join(_field(1, 2, _field(1, 2, str(k).encode()) + _field(2, 5, struct.pack("<f", float(v))))
                          for k, v in scalars.items())
        msg += _field(5, 2, values)
    return msg


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked(length)) + data + struct.pack("<I", _masked(data))


class EventWriter:
    """Appends scalar events to ``logdir/events.out.tfevents.<time>.<host>``."""

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.path = self.logdir / f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
        self._f = open(self.path, "ab")
        self._f.write(_record(_event(0, file_version="brain.Event:2")))
        self._f.flush()

    def scalars(self, step: int, values: dict) -> None:
        self._f.write(_record(_event(step, scalars=values)))
        self._f.flush()

    def close(self) -> None:
        self._f.close()


__all__ = ["EventWriter", "crc32c"]
