"""pytest configuration for this repository. The rnn-parity plugin (parity_tests/plugin.py:
plug-in options, hypothesis profiles, thread pinning, --parity-json) is registered through
the package's pytest11 entry point, so it is active here exactly as in a user's project
after `pip install`; nothing needs loading from this file."""
