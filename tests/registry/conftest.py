"""The registry tests use the `registry` fixture of tests/conftest.py."""
