"""Where the tests find the checkout's plugins."""

from ops.paths import EXAMPLES, FIRST_PARTY, MONITORING, ROOT

TEST_PLUGINS = ROOT / "tests" / "plugins"

__all__ = ["EXAMPLES", "FIRST_PARTY", "MONITORING", "ROOT", "TEST_PLUGINS"]
