"""The default model written straight to ONNX from its weights: one ``LSTM`` op per layer.

The torch exporters trace the padded encoder, which turns each layer into two one-direction
``LSTM`` ops around the gathers that reverse every sentence within its length, plus the shape
arithmetic of those gathers (about 100 nodes). ONNX's ``LSTM`` does all of that itself:
``direction="bidirectional"`` with ``sequence_lens`` starts each sentence's backward pass at its
real last token and stops its forward pass there, so ``Y_h`` holds exactly nn.LSTM's
``h_n[-2]``/``h_n[-1]`` of the packed sentence. The graph is::

    Gather(vectors, input_ids) -> Transpose -> LSTM (x layers) -> Y_h -> merge -> Gemm -> softmax

It covers classifiers with last-state pooling (every merge mode, any depth, uni- or
bidirectional), with or without subwords and a calibration temperature; other models (the
poolings that read every step, ensembles) raise ``Unsupported`` and go to the torch exporters.
``export_onnx`` checks the graph against torch like any other.
"""

from __future__ import annotations

import numpy as np

from bilstm_clf.common import bundle

OPSET = 18  # ReduceSum and ReduceMean both take their axes as an input
# PyTorch stacks an LSTM's gate blocks as i, f, g, o; ONNX as i, o, f, c (c = PyTorch's g).
TORCH_TO_ONNX_GATES = (0, 3, 1, 2)


class Unsupported(Exception):
    """This model is not one the direct graph covers."""


def onnx_gate_order(weights: np.ndarray, hidden_size: int) -> np.ndarray:
    """Rows of a PyTorch LSTM weight or bias (4H first) reordered from i, f, g, o to i, o, f, c."""
    blocks = [weights[k * hidden_size : (k + 1) * hidden_size] for k in TORCH_TO_ONNX_GATES]
    return np.concatenate(blocks, axis=0)


def _unwrap(model):
    """(classifier, temperature) or Unsupported."""
    from bilstm_clf.models import BiLSTMClassifier
    from bilstm_clf.models.calibrated import TemperatureScaled
    from bilstm_clf.models.pooling.last import LastStatePooling

    temperature = 1.0
    if isinstance(model, TemperatureScaled):
        model, temperature = model.classifier, float(model.temperature)
    if not isinstance(model, BiLSTMClassifier):
        raise Unsupported(f"{type(model).__name__} is not a single classifier")
    if not isinstance(model.pooling, LastStatePooling):
        raise Unsupported(f"{type(model.pooling).__name__} reads every step")
    return model, temperature


def applies(model) -> bool:
    try:
        _unwrap(model)
    except Unsupported:
        return False
    return True


def build_graph(model, activation: str = "softmax"):
    """An ``onnx.ModelProto`` computing ``model``'s logits and probabilities (inputs
    ``input_ids`` [batch, length] int64 and ``lengths`` [batch] int64, lengths >= 1)."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper

    classifier, temperature = _unwrap(model)
    encoder = classifier.encoder
    hidden, layers, directions = encoder.hidden_size, encoder.num_layers, encoder.num_directions
    weights = {k: v.detach().cpu().float().numpy() for k, v in encoder.state_dict().items()}  # nn.LSTM's names
    initializers, nodes = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=value.dtype), name))
        return name

    # Each vocabulary row as the model embeds it at inference (word vector, plus subwords when
    # the model has them): the graph then only gathers.
    with torch.inference_mode():
        was_training = classifier.training
        classifier.eval()
        ids = torch.arange(classifier.vocab_size, device=classifier.embedding.weight.device)
        vectors = classifier.embed(ids[None])[0].float().cpu().numpy()
        classifier.train(was_training)
    nodes.append(helper.make_node("Gather", [constant("word_vectors", vectors), "input_ids"], ["embedded"], axis=0))
    nodes.append(helper.make_node("Transpose", ["embedded"], ["steps_0"], perm=[1, 0, 2]))  # [T, B, E]: ONNX LSTM's layout
    nodes.append(helper.make_node("Cast", ["lengths"], ["sequence_lens"], to=TensorProto.INT32))

    x = "steps_0"
    for layer in range(layers):
        suffixes = [f"_l{layer}", f"_l{layer}_reverse"][:directions]

        def stacked(kind: str) -> np.ndarray:
            return np.stack([onnx_gate_order(weights[f"lstm.{kind}{s}"], hidden) for s in suffixes])

        bias = np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1)  # ONNX B: [Wb, Rb] per direction
        nodes.append(
            helper.make_node(
                "LSTM",
                [x, constant(f"W_{layer}", stacked("weight_ih")), constant(f"R_{layer}", stacked("weight_hh")), constant(f"B_{layer}", bias), "sequence_lens"],
                [f"Y_{layer}", f"Y_h_{layer}"],
                hidden_size=hidden,
                direction="bidirectional" if directions == 2 else "forward",
            )
        )
        if layer < layers - 1:  # Y [T, D, B, H] -> the next layer's input [T, B, D·H]
            nodes.append(helper.make_node("Transpose", [f"Y_{layer}"], [f"Y_t_{layer}"], perm=[0, 2, 1, 3]))
            width = constant(f"steps_shape_{layer}", np.array([0, 0, directions * hidden], np.int64))
            nodes.append(helper.make_node("Reshape", [f"Y_t_{layer}", width], [f"steps_{layer + 1}"]))
            x = f"steps_{layer + 1}"

    # Y_h [D, B, H]: the last layer's final forward (and backward) states
    nodes.append(helper.make_node("Transpose", [f"Y_h_{layers - 1}"], ["final"], perm=[1, 0, 2]))
    merge = classifier.pooling.merge_mode
    if merge == "concat":
        nodes.append(helper.make_node("Flatten", ["final"], ["sentence"], axis=1))
    else:
        op = {"sum": "ReduceSum", "mean": "ReduceMean"}[merge]
        nodes.append(helper.make_node(op, ["final", constant("direction_axis", np.array([1], np.int64))], ["sentence"], keepdims=0))
    # temperature scaling folded into the head: (W h + b) / T = (W / T) h + b / T
    head_w = classifier.head.weight.detach().cpu().float().numpy() / np.float32(temperature)
    head_b = classifier.head.bias.detach().cpu().float().numpy() / np.float32(temperature)
    logits, probabilities = bundle.OUTPUT_NAMES
    nodes.append(helper.make_node("Gemm", ["sentence", constant("head_weight", head_w), constant("head_bias", head_b)], [logits], transB=1))
    if activation == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", [logits], [probabilities]))
    else:
        nodes.append(helper.make_node("Softmax", [logits], [probabilities], axis=-1))

    classes = int(head_w.shape[0])
    input_ids, lengths = bundle.INPUT_NAMES
    graph = helper.make_graph(
        nodes,
        "bilstm_classifier",
        [helper.make_tensor_value_info(input_ids, TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info(lengths, TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", classes]),
         helper.make_tensor_value_info(probabilities, TensorProto.FLOAT, ["batch", classes])],
        initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bilstm_clf")
    onnx.checker.check_model(proto)
    return proto
