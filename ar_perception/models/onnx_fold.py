"""Folding what an ONNX encoder recomputes on every frame although it depends only on the input's shape.

Exports that accept several input sizes compute some tensors from the input's *shape* alone: the
interpolated position embeddings of a ViT (a bicubic Resize of the learned table to the patch grid, 23 ms
of 142 ms per frame for the ViT-S/14 stand-in on a 2-core EPYC) and the shape arithmetic feeding the
Reshapes. For a file run at one input size those are constants. onnxruntime folds constants only when a
tensor's whole shape is static, and the batch axis is not, so it leaves them.

`fold_shape_constants` evaluates them once and stores them as initializers:
1. Tensors that do not depend on the input's values: initializers, Constant outputs, Shape/Size outputs,
   and the outputs of nodes that read only such tensors.
2. Of those, the ones a node that does read the input's values consumes (the frontier) are evaluated by
   onnxruntime for inputs of batch 1 and 2 with different values; a tensor that comes out the same every
   time is stored as an initializer, one that does not (it depends on the batch) stays computed.
3. Nodes nothing needs any more are dropped.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ar_perception.errors import ModelError

__all__ = ["fold_shape_constants", "folded_copy", "prune_dead_nodes", "MAX_FOLDED_BYTES"]

SHAPE_OPS = {"Shape", "Size"}  # their outputs depend on the input's shape, not its values
NOT_FOLDED = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}
MAX_FOLDED_BYTES = 64 * 1024 * 1024  # never grow a file by more than this (an Expand to a big shape stays computed)


def _static_frontier(graph) -> list[str]:
    """Names of the tensors to evaluate: value-independent, computed by a node, read by a value-dependent node
    or a graph output."""
    static = {t.name for t in graph.initializer}
    computed: set[str] = set()  # static tensors a node computes (not already initializers)
    inputs = {i.name for i in graph.input} - static
    for node in graph.node:
        reads = [i for i in node.input if i]
        has_subgraph = any(a.g.node or a.graphs for a in node.attribute)
        if node.op_type in NOT_FOLDED or has_subgraph:
            continue
        if node.op_type in SHAPE_OPS or all(i in static for i in reads):
            static.update(o for o in node.output if o)
            computed.update(o for o in node.output if o)
    frontier = []
    for node in graph.node:
        if all(o in static for o in node.output if o):
            continue  # folded away with its outputs
        frontier += [i for i in node.input if i in computed and i not in frontier]
    frontier += [o.name for o in graph.output if o.name in computed and o.name not in frontier]
    return [t for t in frontier if t not in inputs]


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
    # batch 1 twice (other values) and batch 2: a tensor that changes with either is not a constant here
    feeds = [{input_name: rng.standard_normal((b, channels, H, W)).astype(dtype)} for b in (1, 1, 2)]
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
    for node in list(graph.node):  # the nodes that computed them are replaced by the values
        if any(o in folded for o in node.output):
            graph.node.remove(node)
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in folded.items())
    prune_dead_nodes(model)
    return len(folded)


def folded_copy(src: Path, input_name: str, input_size: tuple[int, int], cache: Path) -> Path:
    """A cached copy of `src` with its shape-only tensors folded for `input_size`, or `src` itself where there
    is nothing to fold. Keyed by the file's path, size and time, the size and the onnxruntime version."""
    import onnx
    import onnxruntime as ort

    st = src.stat()
    key = f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{input_name}|{input_size}|{ort.__version__}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    dst = cache / f"{src.stem}-folded-{input_size[0]}x{input_size[1]}-{digest}.onnx"
    none = dst.with_suffix(".none")  # remembered: this file has nothing to fold
    if dst.is_file():
        return dst
    if none.is_file():
        return src
    model = onnx.load(str(src))
    cache.mkdir(parents=True, exist_ok=True)
    if fold_shape_constants(model, input_name, input_size) == 0:
        none.touch()
        return src
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".onnx.tmp")
    os.close(fd)
    onnx.save(model, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)  # atomic: concurrent processes never see a half-written file
    return dst


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
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
