"""Where the tests find the checkout's plugins."""

from ops.paths import EXAMPLES, MONITORING, ROOT

TEST_PLUGINS = ROOT / "tests" / "plugins"

__all__ = ["EXAMPLES", "MONITORING", "ROOT", "TEST_PLUGINS"]
