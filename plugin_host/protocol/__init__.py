"""The host ⇄ worker contract: how frames are carried (:mod:`.framing`), each message
(:mod:`.messages`), and each capability a plugin may ask the host for with the
permission checks that guard it (:mod:`.capabilities`).

One definition of each, used by the host's worker pool, the worker, the SDK and the
SDK's test client. Kept import-light: workers import it before plugin code.
"""
