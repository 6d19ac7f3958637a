"""The Koha platform stack: reads `koha:*` config and builds it on AWS or GCP."""

from pathlib import Path

from koha_infra import aws, gcp
from koha_infra.config import from_pulumi

RULES = Path(__file__).resolve().parents[1] / "monitoring" / "rules"

cfg = from_pulumi()
(aws if cfg.cloud == "aws" else gcp).build(cfg, RULES).export()
