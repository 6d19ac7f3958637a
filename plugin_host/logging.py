"""structlog set-up: JSON lines on stderr, one event per line."""

from __future__ import annotations

import logging
import sys

import structlog

#: libraries whose info lines (e.g. xmlschema's "Resource … is already loaded", read
#: when SAML is set up) would land in the log as plain text between the JSON events
QUIET = ("xmlschema", "saml2")


def configure(level: str = "info", json: bool = True) -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=lvl, stream=sys.stderr, format="%(message)s")
    for chatty in QUIET:  # libraries' own notes are not the service's events
        logging.getLogger(chatty).setLevel(max(lvl, logging.WARNING))
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
