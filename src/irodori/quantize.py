"""int8 copies of irodori's ONNX models, for CPUs: onnxruntime's static quantisation.

QDQ format, per-channel int8 weights (7-bit: ``reduce_range``, so that every x86 CPU computes what
a VNNI one does) and uint8 activations, calibrated on the network inputs the pipeline feeds a
model (:meth:`irodori.colorizer.Colorizer.network_inputs`). The shipped int8 models are made by
``scripts/quantize_model.py`` and ``scripts/quantize_paint.py``; ``irodori export RUN -o m.onnx
--int8`` makes one of a user's own run (:func:`export_int8`). Needs the ``onnx`` package (the
train extra); onnxruntime's quantiser is part of onnxruntime. Method: onnxruntime's
"Quantize ONNX models" guide (static quantisation, QDQ, per-channel).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 32  # as the shipped int8 models: 32 inputs, evenly spaced through the folder


def quantize(src: Path, dst: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    """The float ONNX model at ``src`` -> its int8 copy at ``dst``, its activation ranges read on
    ``calibration`` (network inputs: :func:`calibration_feeds`). Its irodori metadata is the
    float model's, its name with "-int8"; the temperature input stays (:func:`expose_temperature`)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        # The optional temperature input is made a constant for the quantiser (which would treat
        # it as a weight), then exposed again after the quantised softmax input: expose_temperature.
        fixed, prepared = Path(tmp) / "fixed.onnx", Path(tmp) / "prepared.onnx"
        model = onnx.load(str(src))
        inputs = [i for i in model.graph.input if i.name != "temperature"]
        del model.graph.input[:]
        model.graph.input.extend(inputs)
        onnx.save(model, str(fixed))
        quant_pre_process(str(fixed), str(prepared), skip_symbolic_shape=True)
        # reduce_range: 7-bit weights. x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) sum pairs of
        # uint8 x int8 products in 16 bits (vpmaddubsw), which 8-bit weights overflow: there the
        # colours went grey. 255 * 63 * 2 fits; every CPU then computes what a VNNI CPU does.
        quantize_static(str(prepared), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=True)
    # Keep the irodori metadata (name, size multiple, max side) of the float model.
    float_model, int8_model = onnx.load(str(src)), expose_temperature(onnx.load(str(dst)))
    del int8_model.metadata_props[:]
    for prop in float_model.metadata_props:
        entry = int8_model.metadata_props.add()
        entry.key, entry.value = prop.key, prop.value + ("-int8" if prop.key == "irodori.name" else "")
    onnx.save(int8_model, str(dst))


def expose_temperature(model):
    """An int8 classification model whose annealed mean divides the logits by a constant T0 ->
    the same model with the optional scalar input ``temperature`` (default T0; metadata
    ``irodori.temperature``), applied after the quantised softmax input as a factor T0 / T, so
    its range (calibrated at T0) never clips and the output at T0 is the same to the bit. A
    model without that softmax (regression head) is returned unchanged."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    softmax = next((n for n in graph.node if n.op_type == "Softmax"), None)
    div, name = None, softmax.input[0] if softmax is not None else None
    for _ in range(3):  # Softmax <- DequantizeLinear <- QuantizeLinear <- Div(logits, T0)
        node = producer.get(name)
        if node is None or node.op_type == "Div":
            div = node
            break
        name = node.input[0]
    if div is None or div.input[1] not in constants or "temperature" in {i.name for i in graph.input}:
        return model
    t0 = float(constants[div.input[1]].reshape(()))
    if "temperature" in constants:  # the float model's own input, kept as a constant: renamed
        for init in graph.initializer:
            if init.name == "temperature":
                init.name = "temperature_calibrated"
        for node in graph.node:
            node.input[:] = ["temperature_calibrated" if i == "temperature" else i for i in node.input]
    graph.initializer.extend([numpy_helper.from_array(np.array(t0, np.float32), "temperature"),
                              numpy_helper.from_array(np.array(t0, np.float32), "temperature_default")])
    graph.input.append(helper.make_tensor_value_info("temperature", onnx.TensorProto.FLOAT, []))
    ratio, scaled = "temperature_ratio", softmax.input[0] + "_at_temperature"
    index = list(graph.node).index(softmax)
    graph.node.insert(index, helper.make_node("Mul", [softmax.input[0], ratio], [scaled], name="temperature_scale"))
    graph.node.insert(index, helper.make_node("Div", ["temperature_default", "temperature"], [ratio],
                                              name="temperature_ratio"))
    softmax.input[0] = scaled
    entry = model.metadata_props.add()
    entry.key, entry.value = "irodori.temperature", str(t0)
    return model


def calibration_feeds(model: str | Path, files: list[Path], *, printed: bool) -> list[dict[str, np.ndarray]]:
    """The network inputs ``{"l": (1, 1, H', W') float32, "hints": (1, C, H', W') float32}`` the
    pipeline feeds the float model at ``model`` for each image file (hints empty), at the sizes
    it runs them at. ``printed``: each colour image is first printed as a black-and-white page
    (:func:`irodori.printing.printed_page`, seeded by its name), what a paint model colours; else
    its own lightness (a grey page, a photo). Files that cannot be read are passed over."""
    from PIL import Image

    from .colorizer import load_colorizer
    from .imageio import lightness_of, load_rgb
    from .printing import printed_page

    colorizer = load_colorizer(str(model), threads=1)
    feeds = []
    for path in files:
        try:
            rgb = load_rgb(path)
        except (OSError, ValueError) as exc:
            log.warning("%s: not used for calibration: %s", path, exc)
            continue
        img = Image.fromarray(printed_page(np.asarray(rgb), path.name), "L") if printed else rgb
        l_in, hints, _ = colorizer.network_inputs(lightness_of(img)[0])
        feeds.append({"l": l_in, "hints": hints})
    return feeds


def evenly_spaced(files: list[Path], count: int = CALIBRATION_IMAGES) -> list[Path]:
    """At most ``count`` of ``files``, spread evenly through them (the first always)."""
    if len(files) <= count:
        return list(files)
    return [files[round(i * len(files) / count)] for i in range(count)]


def export_int8(checkpoint: str | Path, output: str | Path, images: list[Path], *, name: str | None = None,
                max_side: int = 512) -> dict:
    """A checkpoint -> an int8 ONNX model at ``output``, calibrated on up to CALIBRATION_IMAGES of
    ``images`` (colour images of what the model will colour: printed as B&W pages first for a
    paint model, :func:`calibration_feeds`). The float export is checked against PyTorch first
    (:func:`irodori.export.export_onnx`); the file appears only when all is done. Returns
    {"calibration_images", "paints", "max_abs_err" (float export vs torch), "int8_ab_err" (mean
    |int8 - float| of ab, in normalised units, on the first calibration input), "bytes"}.
    ExportError when no image can be read."""
    import onnxruntime as ort

    from .export import ExportError, export_onnx
    from .imageio import write_atomic

    output = Path(output)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        float_path, int8_path = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        stem = output.stem[: -len("-int8")] if output.stem.endswith("-int8") else output.stem
        report = export_onnx(checkpoint, float_path, name=name or stem, max_side=max_side)  # quantize adds -int8
        quiet = ort.SessionOptions()
        quiet.log_severity_level = 3  # not the float graph's "temperature appears in graph inputs" notice
        session = ort.InferenceSession(str(float_path), quiet, providers=["CPUExecutionProvider"])
        paints = "l_paint" in {o.name for o in session.get_outputs()}
        feeds = calibration_feeds(float_path, evenly_spaced(images), printed=paints)
        if not feeds:
            raise ExportError("no calibration image could be read")
        quantize(float_path, int8_path, feeds)
        int8 = ort.InferenceSession(str(int8_path), quiet, providers=["CPUExecutionProvider"])
        err = float(np.abs(int8.run(["ab"], feeds[0])[0] - session.run(["ab"], feeds[0])[0]).mean())
        data = int8_path.read_bytes()
        write_atomic(output, data)
    return {"calibration_images": len(feeds), "paints": paints, "max_abs_err": report["max_abs_err"],
            "int8_ab_err": err, "bytes": len(data)}
