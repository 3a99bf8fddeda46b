"""rnn-parity's harness: strategies, comparison and diagnosis helpers, and the property tests."""
