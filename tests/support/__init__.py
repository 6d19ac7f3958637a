"""What the tests share that is not a fixture: real servers to start, plugins to pack,
probes. Fixtures live in the conftest.py files and build on these."""
