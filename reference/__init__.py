"""The oracle: torch modules loaded with identical weights, gradients by autograd (float64).

    torch_ref     build / load_weights / param_shapes / vjp: generic over every family
    elman         the Elman family's step function, explicit loop, running error bound,
                  and torch's own variable-length and truncated runs
    finite_diff   a finite-difference oracle where torch has no counterpart
    torch_models  torch counterparts of scratch.model (head, losses)
"""
