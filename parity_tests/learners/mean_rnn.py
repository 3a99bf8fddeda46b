"""A class under the contract whose weight and bias gradients are batch MEANS (as some
courses write them, for a loss averaged over the batch): ``rnn_parity.scratch.RNN`` with
every gradient in ``grads`` divided by the batch size B. dx and dh0 are scratch's.

    --rnn-impl parity_tests.learners.mean_rnn:MeanGradRNN                     # fails: grads are 1/B of torch's
    --rnn-impl parity_tests.learners.mean_rnn:MeanGradRNN --reduction mean    # passes
"""

from rnn_parity.scratch import RNN


class MeanGradRNN(RNN):
    """scratch's RNN, any configuration; ``grads`` = the batch sum / B."""

    def forward(self, x, h0=None, **extensions):
        # B from x: (T, B, I), or (B, T, I) when batch_first; unbatched (T, I) is one sample.
        self._batch = x.shape[0 if self.batch_first else 1] if x.ndim == 3 else 1
        return super().forward(x, h0, **extensions)

    def backward(self, d_output, d_h_n=None, **extensions):
        result = super().backward(d_output, d_h_n, **extensions)
        self.grads = {name: g / self._batch for name, g in self.grads.items()}
        return result
