"""pytest configuration for this repository: the rnn-parity plugin (parity_tests/plugin.py)
holds the plug-in options, hypothesis profiles and thread pinning."""

pytest_plugins = ("parity_tests.plugin",)
