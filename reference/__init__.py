"""The oracle: torch modules loaded with identical weights, gradients by autograd (float64)."""

from .torch_ref import (
    CellResult,
    RNNResult,
    build_torch_cell,
    build_torch_rnn,
    load_weights,
    torch_cell_param_shapes,
    torch_cell_vjp,
    torch_param_shapes,
    torch_rnn_vjp,
)

__all__ = [
    "CellResult",
    "RNNResult",
    "build_torch_cell",
    "build_torch_rnn",
    "load_weights",
    "torch_cell_param_shapes",
    "torch_cell_vjp",
    "torch_param_shapes",
    "torch_rnn_vjp",
]
