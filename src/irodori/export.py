"""Checkpoint -> ONNX, checked: onnx.checker, then onnxruntime against PyTorch.

The exported graph has the fixed interface of :mod:`irodori.model` (inputs ``l`` and ``hints``,
output ``ab``) with dynamic N, H and W; H and W must be multiples of ``irodori.size_multiple``
(stored in the metadata with the inference size and the architecture). Parity is checked at a
size other than the training crop, and the export fails if onnxruntime and PyTorch differ by
more than ``tolerance``.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .checkpoint import load_generator
from .hints import HINT_CHANNELS_WITH_L
from .imageio import write_atomic

DEFAULT_TOLERANCE = 1e-3


class ExportError(RuntimeError):
    """The exported model failed its checks."""


class _AbOnly(torch.nn.Module):
    """The exported graph: (l, hints) -> ab, and l_paint for a paint model, and
    l_paint_line_art for one with a line-art head (the tracer sees no keyword arguments)."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, l: torch.Tensor, hints: torch.Tensor, temperature: torch.Tensor | None = None):
        g = self.generator
        if not g.config.paint:
            return g(l, hints, temperature=temperature)
        x = g.decode(l, hints)
        ab, _ = g.chroma(x, temperature)
        if g.config.line_art_head:
            return ab, g.paint_lightness(l, x), g.paint_lightness(l, x, line_art=True)
        return ab, g.paint_lightness(l, x)


def output_names(model: torch.nn.Module) -> list[str]:
    """The exported graph's outputs: ab, plus l_paint for a paint model, plus l_paint_line_art
    for one with a line-art head."""
    if not model.config.paint:
        return ["ab"]
    return ["ab", "l_paint", "l_paint_line_art"] if model.config.line_art_head else ["ab", "l_paint"]


def _make_optional(proto, name: str, default: float) -> None:
    """Give the scalar graph input ``name`` an initializer holding ``default``: onnxruntime then
    uses the default when a caller does not feed the input (an overridable initializer), so
    callers that know only l and hints run the model as before."""
    from onnx import numpy_helper

    proto.graph.initializer.append(numpy_helper.from_array(np.array(default, dtype=np.float32), name))


def _temperature_parity(model: torch.nn.Module, session, l_np: np.ndarray, hints_np: np.ndarray,
                        default: float) -> float:
    """max |onnxruntime - torch| of ab with the temperature input fed a value other than ``default``."""
    t = 1.0 if default < 1.0 else 0.5
    with torch.no_grad():
        ab_torch = model(torch.from_numpy(l_np), torch.from_numpy(hints_np), temperature=t).numpy()
    feed = {"l": l_np, "hints": hints_np, "temperature": np.array(t, dtype=np.float32)}
    return float(np.abs(session.run(["ab"], feed)[0] - ab_torch).max())


def _safetensors_index(path: Path) -> tuple[dict, int]:
    """A safetensors file's header -> ({name: {"dtype", "shape", "data_offsets"}}, the byte
    offset where its data starts). The format (huggingface/safetensors): an 8-byte little-endian
    header length, that many bytes of JSON, then the tensors' bytes, offsets relative to its start."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


_SAFETENSORS_DTYPES = {"F16": np.float16, "F32": np.float32}


def external_weights(proto, weights: Path, model_dir: Path) -> int:
    """Make the initializers of an exported graph that hold the same values as a tensor of the
    checkpoint's ``weights`` (a safetensors file of float16 or float32 tensors, the one the graph
    was exported from) point into that file as ONNX external data, instead of holding a second
    copy: a float16 tensor is read as such and cast to float32 by a Cast node (onnxruntime folds
    it into a float32 constant when the session is made, so inference is as fast as before).
    ``model_dir`` is where the .onnx file will be written; the file's location is stored
    relative to it (onnxruntime refuses external data outside the model's folder). Initializer
    names are the checkpoint's keys, with the exporter's ``generator.`` prefix. -> how many
    initializers now point into the file. Raises ValueError if ``weights`` is not inside ``model_dir``."""
    from onnx import TensorProto, helper, numpy_helper

    location = Path(weights).resolve().relative_to(Path(model_dir).resolve()).as_posix()
    header, data_start = _safetensors_index(weights)
    data = Path(weights).read_bytes()
    count = 0
    casts = []
    for tensor in proto.graph.initializer:
        key = tensor.name.removeprefix("generator.")
        entry = header.get(key)
        if entry is None or entry["dtype"] not in _SAFETENSORS_DTYPES or tensor.data_type != TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(tensor)
        begin, end = entry["data_offsets"]
        stored = np.frombuffer(data[data_start + begin:data_start + end], dtype=_SAFETENSORS_DTYPES[entry["dtype"]])
        if list(entry["shape"]) != list(value.shape) or not np.array_equal(stored.astype(np.float32), value.ravel()):
            continue
        name = tensor.name
        if entry["dtype"] == "F16":
            tensor.name = f"{name}.float16"
            casts.append(helper.make_node("Cast", [tensor.name], [name], to=TensorProto.FLOAT))
        tensor.data_type = TensorProto.FLOAT16 if entry["dtype"] == "F16" else TensorProto.FLOAT
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(data_start + begin)), ("length", str(end - begin))):
            tensor.external_data.add(key=k, value=v)
        count += 1
    nodes = casts + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return count


def export_onnx(
    checkpoint: str | Path,
    output: str | Path,
    *,
    name: str | None = None,
    max_side: int = 512,
    opset: int = 17,
    check_size: tuple[int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    weights: str | Path | None = None,
) -> dict:
    """Export and verify; returns {"max_abs_err", "check_size", "path", "external"}.

    With ``weights`` (the checkpoint's safetensors file, in the output's folder or below it: a
    shipped model's) the graph keeps its batch norms unfolded, so that its initializers are the
    checkpoint's own tensors, and reads them from that file (:func:`external_weights`): the
    .onnx file holds the graph alone, and only works beside that file. onnxruntime folds the
    batch norms itself when it loads the model. ``external`` counts the tensors read from it."""
    import onnx
    import onnxruntime as ort

    model, meta = load_generator(checkpoint)
    model.eval()
    m, hc = model.config.size_multiple, model.config.hint_channels
    example = (torch.zeros(1, 1, 2 * m, 2 * m), torch.zeros(1, hc, 2 * m, 2 * m))
    temperature = model.config.temperature if model.config.head == "classification" else None
    if temperature is not None:  # the annealed mean's T: an optional scalar input (see _make_optional)
        example = example + (torch.tensor(temperature),)
    input_names = ["l", "hints"] + (["temperature"] if temperature is not None else [])
    outputs = output_names(model)
    dynamic = {name: {0: "n", 2: "h", 3: "w"} for name in ["l", "hints", *outputs]}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but exact, fast and identical on torch 2.11-2.13;
        # the dynamo exporter needs onnxscript and minutes of tracing for the same graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _AbOnly(model).eval(), example, buf, input_names=input_names, output_names=outputs,
            dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False,
            # with weights: batch norms left unfolded, so the initializers are the checkpoint's tensors
            training=torch.onnx.TrainingMode.PRESERVE if weights is not None else torch.onnx.TrainingMode.EVAL,
        )
    proto = onnx.load_from_string(buf.getvalue())
    if temperature is not None:
        _make_optional(proto, "temperature", temperature)
    metadata = {
        "irodori.name": name or Path(output).stem,
        "irodori.version": __version__,
        "irodori.size_multiple": str(m),
        "irodori.max_side": str(max_side),
        "irodori.arch": json.dumps(meta["arch"], sort_keys=True),
        "irodori.step": str(meta.get("step")),
        **({"irodori.temperature": str(temperature)} if temperature is not None else {}),
        "irodori.data_manifest_sha256": str(meta.get("data_manifest_sha256")),
        "irodori.interface": f"l=(N,1,H,W) L/50-1; hints=(N,{hc},H,W) (a/110*mask, b/110*mask, mask"
                             + (", (L/50-1)*mask" if hc >= HINT_CHANNELS_WITH_L else "") + "); ab=(N,2,H,W) ab/110"
                             + ("; l_paint=(N,1,H,W) L/50-1" if model.config.paint else "")
                             + ("; l_paint_line_art=(N,1,H,W) L/50-1" if model.config.line_art_head else ""),
        # The contracts the model serves: tint (keep the input's L) and, with l_paint, paint.
        "irodori.contracts": "tint,paint" if model.config.paint else "tint",
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the export: {exc}") from None

    # Parity at a size unlike the square training crops, with a non-empty hint.
    h, w = check_size or (3 * m, 5 * m)
    rng = np.random.default_rng(0)
    l_np = rng.uniform(-1, 1, (1, 1, h, w)).astype(np.float32)
    hints_np = np.zeros((1, hc, h, w), dtype=np.float32)
    hints_np[:, :, h // 2, w // 3] = (0.3, -0.2, 1.0, 0.4)[:hc]
    with torch.no_grad():
        torch_out = _AbOnly(model).eval()(torch.from_numpy(l_np), torch.from_numpy(hints_np))
    torch_out = [t.numpy() for t in (torch_out if isinstance(torch_out, tuple) else (torch_out,))]
    session = ort.InferenceSession(proto.SerializeToString(), _quiet_options(), providers=["CPUExecutionProvider"])
    ort_out = session.run(outputs, {"l": l_np, "hints": hints_np})
    max_abs_err = max(float(np.abs(a - b).max()) for a, b in zip(ort_out, torch_out))
    if not max_abs_err <= tolerance:
        raise ExportError(f"onnxruntime and PyTorch differ by {max_abs_err:.2e} (> {tolerance:.0e}) at {h}x{w}")
    if temperature is not None:  # the optional input, given: parity at another T
        max_abs_err = max(max_abs_err, _temperature_parity(model, session, l_np, hints_np, temperature))
        if not max_abs_err <= tolerance:
            raise ExportError(f"with a temperature given, onnxruntime and PyTorch differ by {max_abs_err:.2e}")
    output = Path(output)
    external = 0
    if weights is not None:
        external = external_weights(proto, Path(weights), output.parent)
        max_abs_err = max(max_abs_err, _external_parity(proto, output, outputs, {"l": l_np, "hints": hints_np},
                                                        ort_out, tolerance))
    write_atomic(output, proto.SerializeToString())
    return {"max_abs_err": max_abs_err, "check_size": (h, w), "path": str(output), "external": external}


def _quiet_options():
    """onnxruntime session options that print errors only: the optional temperature input (an
    initializer that is also a graph input) draws a warning at every session, meaning nothing."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return options


def _external_parity(proto, output: Path, outputs: list[str], feed: dict, expected: list, tolerance: float) -> float:
    """Write the graph with external weights beside its file-to-be, check it (onnx.checker reads
    the external data) and run it in onnxruntime -> max |difference| from ``expected``, the
    outputs of the graph with its weights inside. Raises ExportError past ``tolerance``."""
    import onnx
    import onnxruntime as ort

    probe = output.with_name(f".{output.name}.check")
    try:
        probe.write_bytes(proto.SerializeToString())
        try:
            onnx.checker.check_model(str(probe), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"onnx.checker rejected the export with external weights: {exc}") from None
        session = ort.InferenceSession(str(probe), _quiet_options(), providers=["CPUExecutionProvider"])
        got = session.run(outputs, feed)
    finally:
        probe.unlink(missing_ok=True)
    err = max(float(np.abs(a - b).max()) for a, b in zip(got, expected))
    if not err <= tolerance:
        raise ExportError(f"with its weights read from the checkpoint the model differs by {err:.2e}")
    return err
