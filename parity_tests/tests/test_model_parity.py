"""The seeds' whole models: RNN + Linear head (every step or last step, or none) + loss.

scratch.model.SequenceModel against the torch model (torch.nn.RNN + torch.nn.Linear +
MSELoss / 1/2 sum of squares / sum of squares / CrossEntropyLoss): the loss and every
gradient. For the identity recurrence (seed 002) torch has no module; its reference is an
explicit torch loop, and the finite-difference oracle cross-checks that loop (and the
custom sum-of-squares losses) so the reference itself cannot be wrong unnoticed.
"""

from hypothesis import example, given

from parity_tests.families.sequence_model import ModelCase, ModelConfig, assert_model_parity, model_cases
from rnn_parity.reference.finite_diff import directional_check
from rnn_parity.reference.torch_models import model_loss_and_grads


@given(case=model_cases())
@example(case=ModelCase(ModelConfig(1, 1, head=None, nonlinearity="identity", bias=False, loss="sse", seq_len=10, batch=20), seed=1))  # seed 002
@example(case=ModelCase(ModelConfig(1, 5, 1, head="last", loss="mse", seq_len=25, batch=4), seed=2))  # seed 000
@example(case=ModelCase(ModelConfig(2, 4, 4, head="every", loss="cross_entropy", seq_len=3, batch=1), seed=3))  # seed 003
@example(case=ModelCase(ModelConfig(1, 3, 1, head="every", loss="half_sse", batch_first=False), seed=4))
def test_model_loss_and_gradients_match_torch(case):
    assert_model_parity(case)


@given(case=model_cases(nonlinearity="identity"))
@example(case=ModelCase(ModelConfig(1, 1, head=None, nonlinearity="identity", bias=False, loss="sse", seq_len=10, batch=20), seed=1))
def test_identity_recurrence_reference_agrees_with_finite_differences(case):
    _fd_check(case)


# tanh, not relu: at relu's kink (a = 0 exactly, e.g. all-zero weights) a central
# difference averages the two one-sided slopes while torch defines relu'(0) = 0; finite
# differences can only check a function that is differentiable along the whole step.
@given(case=model_cases(loss="half_sse", nonlinearity="tanh"))
def test_half_sse_reference_agrees_with_finite_differences(case):
    _fd_check(case)


@given(case=model_cases(loss="sse", nonlinearity="tanh"))
def test_sse_reference_agrees_with_finite_differences(case):
    _fd_check(case)


def _fd_check(case):
    a = case.materialize()
    kw = case.config.model_kwargs()
    _, grads = model_loss_and_grads(kw, a["params"], a["x"], a["target"])
    f = lambda p: model_loss_and_grads(kw, p, a["x"], a["target"])[0]  # noqa: E731
    for fd, analytic, tol in directional_check(f, a["params"], grads, seed=case.seed % 2**32):
        assert abs(fd - analytic) <= tol, f"finite difference {fd!r} vs autograd {analytic!r} (allowed {tol:.3g})"
