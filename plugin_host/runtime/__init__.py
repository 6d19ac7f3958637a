"""Running plugin backends, below both services: the sandbox launcher (which layers this
machine offers and how a worker starts inside them) and the worker pool (worker
processes, calls spread over them, crash-loop back-off).

The host serves plugins with it; the registry smoke-loads published packages with it.
"""

from .pool import PluginRuntime, WorkerSpec, WorkerStartError, check_hooks
from .sandbox import SandboxPolicy, SandboxUnavailable

__all__ = ["PluginRuntime", "SandboxPolicy", "SandboxUnavailable", "WorkerSpec",
           "WorkerStartError", "check_hooks"]
