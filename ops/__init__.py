"""Operations tooling: local environments, test containers, builds, releases, deploys.

Lives outside the runtime wheel (``plugin_host`` is the only package production hosts
install). It may import ``plugin_host``; ``plugin_host`` never imports it (import-linter
checks this in ``./dev lint``). ``tasks.py`` composes the invoke collections in
``ops/tasks/``.
"""
