"""Folding what an ONNX encoder recomputes on every frame although it depends only on the input's shape.

Exports that accept several input sizes compute some tensors from the input's *shape* alone: the
interpolated position embeddings of a ViT (a bicubic Resize of the learned table to the patch grid, 23 ms
of 142 ms per frame for the ViT-S/14 stand-in on a 2-core EPYC) and the shape arithmetic feeding the
Reshapes. For a file run at one input size those are constants. onnxruntime folds constants only when a
tensor's whole shape is static, and the batch axis is not, so it leaves them.

`fold_shape_constants` evaluates them once and stores them as initializers:
1. Candidates: tensors computed from a Shape/Size output and constants alone (weights-only subgraphs are
   left to onnxruntime, which folds them itself and keeps DequantizeLinear on int8 weights as it is).
2. Of those, the ones a node outside them reads (the frontier) are evaluated by onnxruntime for inputs of
   batch 1 (twice, other values), 2 and 3; a tensor that comes out the same every time, and whose producing
   node has no other output that does not, is stored as an initializer. A shape that depends on values
   (NonZero, TopK) shows up here as a tensor that changes, and stays computed.
3. Nodes nothing needs any more are dropped.
`folded_copy` then runs the original and the folded graph on the same inputs and keeps the copy only if they
agree: otherwise the file runs as it is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ar_perception.errors import ModelError
from ar_perception.models.derived import derived_path, drop_stale

__all__ = ["fold_shape_constants", "folded_copy", "prune_dead_nodes", "MAX_FOLDED_BYTES"]

SHAPE_OPS = {"Shape", "Size"}  # their outputs depend on the input's shape, not its values
NOT_FOLDED = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
FOLD_VERSION = 2  # in the cache key: a change to what is folded makes new copies
MAX_FOLDED_BYTES = 64 * 1024 * 1024  # never grow a file by more than this (an Expand to a big shape stays computed)


def _static_frontier(graph) -> list[str]:
    """Names of the tensors to evaluate: computed from the input's shape and constants alone, read by a node that
    is not, or a graph output."""
    const = {t.name for t in graph.initializer}
    shaped: set[str] = set()  # tensors computed from a Shape/Size output and constants
    inputs = {i.name for i in graph.input} - const
    for node in graph.node:
        reads = [i for i in node.input if i]
        has_subgraph = any(a.HasField("g") or a.graphs for a in node.attribute)
        if node.op_type in NOT_FOLDED or has_subgraph:
            continue
        if node.op_type in SHAPE_OPS:
            shaped.update(o for o in node.output if o)
        elif all(i in const or i in shaped for i in reads):
            (shaped if any(i in shaped for i in reads) else const).update(o for o in node.output if o)
    frontier = []
    for node in graph.node:
        if all(o in shaped for o in node.output if o):
            continue  # folded away with its outputs
        frontier += [i for i in node.input if i in shaped and i not in frontier]
    return [t for t in frontier if t not in inputs]  # (a graph output computed from the shape stays computed)


def _evaluate(model, names: list[str], feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    """The values of `names` for each feed, by onnxruntime (no graph optimisation: what the file computes)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in known)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return [session.run(names, feed) for feed in feeds]


def fold_shape_constants(model, input_name: str, input_size: tuple[int, int]) -> int:
    """Fold, in place, the tensors of `model` (an onnx ModelProto) that depend only on the shape of its image
    input [B, C, H, W] at `input_size` (H, W). Returns how many tensors became initializers."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    frontier = _static_frontier(graph)
    if not frontier:
        return 0
    inp = next((i for i in graph.input if i.name == input_name), None)
    if inp is None:
        raise ModelError(f"no input '{input_name}' to fold the ONNX graph for")
    dims = inp.type.tensor_type.shape.dim
    channels = dims[1].dim_value if len(dims) == 4 and dims[1].dim_value > 0 else 3
    dtype = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
    rng = np.random.default_rng(0)
    H, W = input_size
    # batch 1 twice (other values), 2 and 3: a tensor that changes with any of them is not a constant here
    feeds = [{input_name: rng.standard_normal((b, channels, H, W)).astype(dtype)} for b in (1, 1, 2, 3)]
    try:
        runs = _evaluate(model, frontier, feeds)
    except Exception as e:  # onnxruntime's own error types; then the file runs unfolded
        raise ModelError(f"cannot evaluate the shape-only part of the ONNX graph: {type(e).__name__}: {e}") from None
    folded: dict[str, np.ndarray] = {}
    total = 0
    for k, name in enumerate(frontier):
        values = [run[k] for run in runs]
        first = values[0]
        same = all(v.shape == first.shape and v.dtype == first.dtype and np.array_equal(v, first) for v in values)
        if same and total + first.nbytes <= MAX_FOLDED_BYTES:
            folded[name] = first
            total += first.nbytes
    if not folded:
        return 0
    # Readers of a folded tensor read its value instead (an initializer of its own name); the nodes that computed
    # it go when nothing else needs any of their outputs (prune_dead_nodes).
    renamed = {name: f"{name}__folded" for name in folded}
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in renamed:
                node.input[k] = renamed[name]
    graph.initializer.extend(numpy_helper.from_array(v, renamed[name]) for name, v in folded.items())
    prune_dead_nodes(model)
    return len(folded)


def folded_copy(src: Path, input_name: str, input_size: tuple[int, int], cache: Path) -> Path:
    """A cached copy of `src` with its shape-only tensors folded for `input_size`, or `src` itself where there
    is nothing to fold. Named by the file's path, size and time, the size and the onnxruntime version
    (`models/derived.py`)."""
    import onnx
    import onnxruntime as ort

    H, W = input_size
    versions = f"{ort.__version__}|fold-v{FOLD_VERSION}"
    dst = derived_path(src, f"folded-{H}x{W}", cache, params=input_name, versions=versions)
    none = dst.with_suffix(".none")  # remembered: this file has nothing to fold
    if dst.is_file():
        return dst
    if none.is_file():
        return src
    model = onnx.load(str(src))
    original = onnx.ModelProto()
    original.CopyFrom(model)
    cache.mkdir(parents=True, exist_ok=True)
    if fold_shape_constants(model, input_name, input_size) == 0 or not _agree(original, model, input_name, input_size):
        none.touch()
        drop_stale(dst)
        return src
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".onnx.tmp")
    os.close(fd)
    onnx.save(model, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)  # atomic: concurrent processes never see a half-written file
    drop_stale(dst)  # copies for an older version of the source
    return dst


def _agree(original, folded, input_name: str, input_size: tuple[int, int]) -> bool:
    """Whether both graphs give the same outputs (to float rounding) for a random image of batch 1 and 2 (a graph
    with other inputs than the image is not checked here, and so not folded)."""
    import onnxruntime as ort

    def outputs(model, x: np.ndarray) -> list[np.ndarray]:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return session.run(None, {input_name: x})

    inp = next(i for i in original.graph.input if i.name == input_name)
    dims = inp.type.tensor_type.shape.dim
    channels = dims[1].dim_value if len(dims) == 4 and dims[1].dim_value > 0 else 3
    rng = np.random.default_rng(1)
    try:
        for batch in (1, 2):
            x = rng.standard_normal((batch, channels, *input_size)).astype(np.float32)
            for a, b in zip(outputs(original, x), outputs(folded, x), strict=True):
                scale = float(np.abs(a).max()) if a.size else 0.0
                if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-4 * max(scale, 1.0)):
                    return False
    except Exception:  # onnxruntime refuses the folded graph: it is not used
        return False
    return True


def prune_dead_nodes(model) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:  # subgraphs (If/Loop) read outer-scope names
                for g in [attr.g, *attr.graphs]:
                    needed.update(i for n in g.node for i in n.input)
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    was_init = {t.name for t in graph.initializer}
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    # an initializer listed as a graph input too (older exports) goes with its entry there; real inputs stay
    kept = [i for i in graph.input if i.name in needed or i.name not in was_init]
    del graph.input[:]
    graph.input.extend(kept)
