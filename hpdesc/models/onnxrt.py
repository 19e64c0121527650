"""ONNX models as hpdesc components: one onnxruntime wrapper for the ``onnx`` descriptor and denoiser.

A model exported from any framework (``torch.onnx.export`` of a kornia descriptor, hpdesc's own
``hpdesc export``) runs with onnxruntime on numpy batches: the same "not a Keras graph" contract
as ``sift`` (:mod:`hpdesc.models.descriptors.sift`) and the classical denoisers. Each component is
a :class:`~hpdesc.models.numpy.NumpyModel` whose ``compute`` runs the session; hpdesc's pipeline calls it
(``hpdesc.models.numpy_compute``) and training never trains it.

What is read from the file: the input's layout (NCHW when dim 1 is the channel, NHWC when dim 3
is; ``layout`` overrides it when both are symbolic), its spatial size (patches are resized to a
fixed size other than the patch's with OpenCV, area for shrinking, bilinear for enlarging; a
symbolic size takes the patch as it is) and a fixed batch size (batches are cut and padded to
it). ``input_range = [lo, hi]`` maps hpdesc's [0, 1] patches linearly onto what the model takes:
``[0, 1]`` by default, the range kornia's descriptors take (they standardise inside).

Saved with a run: the model bytes travel inside the ``.keras`` file (Keras' assets), so a run
reloads without the original file; the config records the original path and its SHA-256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from hpdesc.errors import DataFormatError, ParameterError, PluginError
from hpdesc.models.numpy import NumpyModel

LAYOUTS = ("auto", "NCHW", "NHWC")
PROVIDERS = ("auto", "cpu", "cuda")
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
_ASSET = "model.onnx"


def _ort():
    try:
        import onnxruntime  # noqa: PLC0415 - an optional dependency, needed only to run the model
    except ImportError:
        raise PluginError("the onnx components need onnxruntime, which is not installed",
                          hint='pip install "hpdesc[export]" (or pip install onnxruntime)') from None
    return onnxruntime


def _providers(provider: str) -> list[str]:
    """onnxruntime execution providers for ``provider`` (``auto``: CUDA where available, else CPU)."""
    available = _ort().get_available_providers()
    if provider == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ParameterError("parameter 'provider' is 'cuda', but this onnxruntime has no CUDA provider "
                                 f"(available: {', '.join(available)}); install onnxruntime-gpu or use 'auto'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if provider == "auto" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def read_model(path) -> tuple[bytes, str, str]:
    """``(bytes, absolute path, sha256)`` of an ONNX file; a missing or unreadable file is one line."""
    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise ParameterError(f"parameter 'path': {p}: no such file" if not p.exists()
                             else f"parameter 'path': {p} is a folder, not an ONNX file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ParameterError(f"parameter 'path': cannot read {p}: {exc.strerror or exc}") from None
    return data, str(p.resolve()), hashlib.sha256(data).hexdigest()


def _dim(d) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


class OnnxSession:
    """An onnxruntime session over ONNX bytes, fed hpdesc patches ``(B, H, W, 1)`` in [0, 1].

    ``source`` names the model in messages. Raises :class:`DataFormatError` for bytes that are
    not an ONNX model or a model with an input hpdesc cannot feed (not 4-D, not one grey channel,
    not float).
    """

    def __init__(self, data: bytes, source: str, layout: str = "auto", input_range=(0.0, 1.0),
                 provider: str = "auto"):
        ort = _ort()
        self.source = source
        options = ort.SessionOptions()
        options.log_severity_level = 3  # onnxruntime's own warnings would bypass hpdesc's one-line errors
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=_providers(provider))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataFormatError(f"{source}: not an ONNX model onnxruntime can load ({first[:200]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or not outputs:
            names = ", ".join(i.name for i in inputs)
            raise DataFormatError(f"{source}: the model has {len(inputs)} inputs ({names}) and {len(outputs)} "
                                  "outputs; hpdesc feeds one patch batch and reads the first output",
                                  hint="export a module whose forward takes only the patches, e.g. "
                                       "torch.nn.Sequential(model) (docs/interop.md)")
        inp = inputs[0]
        self.input_name, self.output_name = inp.name, outputs[0].name
        self.output_shape = list(outputs[0].shape) if outputs[0].shape is not None else None
        shape = list(inp.shape or [])
        if len(shape) != 4:
            raise DataFormatError(f"{source}: the model's input {inp.name!r} has rank {len(shape)} "
                                  f"(shape {shape}); hpdesc feeds patch batches of rank 4 (NCHW or NHWC)")
        if inp.type not in _FLOAT_TYPES:
            raise DataFormatError(f"{source}: the model's input {inp.name!r} is {inp.type}; hpdesc feeds float patches")
        self.dtype = _FLOAT_TYPES[inp.type]
        self.layout = self._layout(shape, layout)
        hw = shape[2:4] if self.layout == "NCHW" else shape[1:3]
        self.size = (_dim(hw[0]), _dim(hw[1]))
        self.batch = _dim(shape[0])
        lo, hi = input_range
        self.lo, self.hi = float(lo), float(hi)

    def _layout(self, shape: list, layout: str) -> str:
        c_first, c_last = shape[1], shape[3]
        if layout != "auto":
            channels = c_first if layout == "NCHW" else c_last
            if _dim(channels) not in (None, 1):
                raise DataFormatError(f"{self.source}: with layout {layout} the input has {channels} channels; "
                                      "hpdesc patches have 1 (grey)")
            return layout
        if c_first == 1 and c_last != 1:
            return "NCHW"
        if c_last == 1 and c_first != 1:
            return "NHWC"
        if c_first == 1:  # (B, 1, H, 1): a 1-pixel-wide NCHW image is far less likely than NCHW
            return "NCHW"
        if _dim(c_first) is None and _dim(c_last) is None:
            raise DataFormatError(f"{self.source}: cannot tell the input layout from its shape {shape}",
                                  hint="set descriptor.layout (or denoiser.layout) to NCHW or NHWC")
        raise DataFormatError(f"{self.source}: the model's input {shape} has no single grey channel "
                              "(dim 1 for NCHW or dim 3 for NHWC); hpdesc patches have 1 channel")

    # -- running ---------------------------------------------------------------------------
    def _resize(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        import cv2  # noqa: PLC0415

        h, w = size
        if x.shape[1:3] == (h, w):
            return x
        shrink = h * w < x.shape[1] * x.shape[2]
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return np.stack([cv2.resize(p, (w, h), interpolation=interp) for p in x[..., 0]])[..., None]

    def model_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        """The spatial size the model takes for patches of size ``hw`` (fixed dims win)."""
        return (self.size[0] or hw[0], self.size[1] or hw[1])

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """``(output, model size)`` for float32 NHWC patches in [0, 1] (any batch size)."""
        x = np.asarray(patches, np.float32)
        size = self.model_size(x.shape[1:3])
        x = self._resize(x, size)
        x = self.lo + x * (self.hi - self.lo)
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        step = self.batch or max(len(x), 1)
        parts = []
        for lo in range(0, len(x), step):
            chunk = x[lo:lo + step]
            n = len(chunk)
            if self.batch and n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n,) + chunk.shape[1:], chunk.dtype)])
            out = self.session.run([self.output_name], {self.input_name: chunk})[0]
            parts.append(np.asarray(out)[:n])
        if not parts:
            return np.zeros((0,), np.float32), size
        return np.concatenate(parts).astype(np.float32, copy=False), size


class OnnxModel(NumpyModel):
    """A weightless model that runs an ONNX file with onnxruntime (a :class:`~hpdesc.models.numpy.NumpyModel`).

    Built by the ``onnx`` factories with the model's bytes (``data``); rebuilt from a saved
    config without them, it takes them from the ``.keras`` file's assets, or failing that from
    ``path`` if that file still has the recorded ``sha256``. Subclasses implement :meth:`compute`.
    """

    role = "model"

    def __init__(self, input_shape=(32, 32, 1), path: str = "", sha256: str = "", layout: str = "auto",
                 input_range=(0.0, 1.0), provider: str = "auto", data: bytes | None = None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.model_path, self.sha256 = str(path), str(sha256)
        self.layout, self.provider = str(layout), str(provider)
        self.input_range = tuple(float(v) for v in input_range)
        self._data = data
        self._session: OnnxSession | None = None

    @property
    def session(self) -> OnnxSession:
        if self._session is None:
            if self._data is None:
                data, _, digest = read_model(self.model_path)
                if self.sha256 and digest != self.sha256:
                    raise DataFormatError(f"{self.model_path}: the ONNX file changed since it was recorded "
                                          f"(sha256 {digest[:12]}..., recorded {self.sha256[:12]}...)")
                self._data = data
            self._session = OnnxSession(self._data, self.model_path or "the ONNX model", self.layout,
                                        self.input_range, self.provider)
        return self._session

    # -- saving: the bytes go into the .keras archive -----------------------------------------
    def save_assets(self, dir_path):
        self.session  # noqa: B018 - reads (and checks) the bytes if this model was rebuilt from a config
        (Path(dir_path) / _ASSET).write_bytes(self._data)

    def load_assets(self, dir_path):
        p = Path(dir_path) / _ASSET
        if p.is_file():
            self._data, self._session = p.read_bytes(), None

    def params(self) -> dict:
        return {"path": self.model_path, "sha256": self.sha256, "layout": self.layout,
                "input_range": list(self.input_range), "provider": self.provider}


def check_params(layout: str, input_range, provider: str) -> tuple[str, tuple[float, float], str]:
    """Validate the shared ``layout`` / ``input_range`` / ``provider`` parameters (ParameterError)."""
    if not isinstance(layout, str) or layout.upper() not in ("AUTO", "NCHW", "NHWC"):
        raise ParameterError(f"parameter 'layout' must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    layout = "auto" if layout.upper() == "AUTO" else layout.upper()
    if (not isinstance(input_range, (list, tuple)) or len(input_range) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in input_range)
            or not float(input_range[1]) > float(input_range[0])):
        raise ParameterError(f"parameter 'input_range' must be [lo, hi] with lo < hi (e.g. [0, 1] or [0, 255]); "
                             f"got {input_range!r}")
    if provider not in PROVIDERS:
        raise ParameterError(f"parameter 'provider' must be one of {', '.join(PROVIDERS)}; got {provider!r}")
    _providers(provider)  # 'cuda' without a CUDA onnxruntime: refused now, not at the first batch
    return layout, (float(input_range[0]), float(input_range[1])), provider


def load(cls, input_shape, path, layout, input_range, provider, name: str):
    """Build ``cls`` for the ONNX file at ``path`` and try it on two patches (bad files fail here)."""
    if not path:
        raise ParameterError(f"parameter 'path' is required: the ONNX file (--set {cls.role}.path=model.onnx)")
    layout, input_range, provider = check_params(layout, input_range, provider)
    data, abspath, digest = read_model(path)
    model = cls(input_shape=input_shape, path=abspath, sha256=digest, layout=layout, input_range=input_range,
                provider=provider, data=data, name=name)
    model.build((None, *input_shape))
    model.compute(np.full((2, *input_shape), 0.5, np.float32) + np.linspace(-0.4, 0.4, int(np.prod(input_shape)),
                                                                           dtype=np.float32).reshape(input_shape))
    return model
