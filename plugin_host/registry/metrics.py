"""The registry's Prometheus metrics. docs/operations/metrics.md lists each one."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from .. import __version__
from ..service.http_metrics import request_metrics

HTTP_REQUESTS, HTTP_LATENCY = request_metrics("registry")
PUBLISHES = Counter("registry_publishes_total", "Publish attempts", ["outcome"])
REVIEWS = Counter("registry_reviews_total", "Review decisions", ["decision"])
DOWNLOADS = Counter("registry_downloads_total", "Package downloads", ["plugin"])
USAGE_REPORTS = Counter("registry_usage_reports_total", "Hosts' daily reports of the plugins "
                        "they run, by outcome (counted, refused: too many from one address, "
                        "invalid)", ["outcome"])
QUEUE_SIZE = Gauge("registry_review_queue_size", "Releases waiting for review")
QUEUE_AGE = Gauge("registry_review_queue_oldest_age_seconds",
                  "How long the oldest release in the queue has waited")
INDEX_EXPIRY = Gauge("registry_index_metadata_expiry_timestamp_seconds",
                     "When each role's current index metadata expires (Unix time)", ["role"])
DATABASE_UP = Gauge("registry_database_up",
                    "1 while the registry's database answers (checked at each scrape and "
                    "readiness probe)")
BUILD_INFO = Gauge("registry_build_info", "Version of this registry", ["version"])
BUILD_INFO.labels(__version__).set(1)
