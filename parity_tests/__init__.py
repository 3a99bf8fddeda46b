"""rnn-parity's harness: strategies, comparison and diagnosis helpers, and the property tests.

PYTEST_DONT_REWRITE: ``rnn-parity check`` imports this package before it starts pytest, and
pytest would warn that it cannot rewrite assertions in a package already imported; this
module has none (the test modules are rewritten as usual).
"""
