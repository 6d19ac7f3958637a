"""Where things exist: regions, their zones, and the machine families offered there.

Copied from the providers' published lists (checked 2026-11), for the regions this
platform is deployed to; a region or family missing here is refused by the stack config
(``koha:region: …``) and by the policy pack's ``placement`` rule, rather than failing
half-way through ``pulumi up``. Add a row, with its source, to deploy somewhere new.

- GCP zones: https://cloud.google.com/compute/docs/regions-zones (europe-west1 has
  zones b, c and d; there is no europe-west1-a). E2 is offered in every region
  (https://cloud.google.com/compute/docs/general-purpose-machines#e2_machine_types);
  N2 per region as listed on the regions-zones page.
- AWS Availability Zones: https://docs.aws.amazon.com/global-infrastructure/latest/regions/
  and ``aws ec2 describe-availability-zones``; instance families per region:
  https://aws.amazon.com/ec2/pricing/on-demand/ (the region selector) and
  ``aws ec2 describe-instance-type-offerings``; RDS classes:
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.RegionSupport.html
"""

from __future__ import annotations

#: GCP region → its zones (suffixes)
GCP_ZONES: dict[str, tuple[str, ...]] = {
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "europe-west3": ("a", "b", "c"),
    "europe-west4": ("a", "b", "c"),
    "europe-north1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": ("a", "b", "c"),
    "us-west1": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
}
#: GCP machine series offered in every region above
GCP_MACHINE_SERIES = ("e2", "n2")
#: Cloud SQL tiers: custom machines and the shared-core ones, in every region
GCP_SQL_TIERS = ("db-custom-", "db-f1-micro", "db-g1-small")

#: AWS region → its Availability Zones (suffixes)
AWS_ZONES: dict[str, tuple[str, ...]] = {
    "eu-west-1": ("a", "b", "c"),
    "eu-west-2": ("a", "b", "c"),
    "eu-central-1": ("a", "b", "c"),
    "eu-north-1": ("a", "b", "c"),
    "us-east-1": ("a", "b", "c", "d", "e", "f"),
    "us-east-2": ("a", "b", "c"),
    "us-west-2": ("a", "b", "c", "d"),
    "ca-central-1": ("a", "b", "d"),
    "ap-southeast-2": ("a", "b", "c"),
}
#: EC2 instance families offered in every region above
AWS_INSTANCE_FAMILIES = ("t3", "m5", "c5", "r5", "m6i", "c6i", "r6i")
#: RDS instance class families offered in every region above
AWS_DB_FAMILIES = ("db.t3", "db.t4g", "db.m5", "db.m6g", "db.m6i", "db.r5", "db.r6g")


def zones(cloud: str, region: str) -> tuple[str, ...]:
    """The zones of ``region`` as full names (``europe-west1-b``, ``eu-west-1a``)."""
    table, sep = (GCP_ZONES, "-") if cloud == "gcp" else (AWS_ZONES, "")
    return tuple(f"{region}{sep}{z}" for z in table.get(region, ()))


def known_region(cloud: str, region: str) -> bool:
    return region in (GCP_ZONES if cloud == "gcp" else AWS_ZONES)


def machine_problem(cloud: str, machine_type: str) -> str | None:
    """Why ``machine_type`` is not offered everywhere we deploy, or None."""
    if cloud == "gcp":
        series = machine_type.split("-", 1)[0]
        ok = series in GCP_MACHINE_SERIES and "-" in machine_type
        offered = ", ".join(f"{s}-*" for s in GCP_MACHINE_SERIES)
    else:
        family = machine_type.split(".", 1)[0]
        ok = family in AWS_INSTANCE_FAMILIES and "." in machine_type
        offered = ", ".join(f"{f}.*" for f in AWS_INSTANCE_FAMILIES)
    return None if ok else f"{machine_type!r} is not a machine type of the families " \
                           f"offered in every supported region ({offered})"


def db_class_problem(cloud: str, db_class: str) -> str | None:
    if cloud == "gcp":
        ok = db_class.startswith(GCP_SQL_TIERS)
        offered = "db-custom-CPU-MEMORY, db-f1-micro, db-g1-small"
    else:
        ok = db_class.rsplit(".", 1)[0] in AWS_DB_FAMILIES
        offered = ", ".join(f"{f}.*" for f in AWS_DB_FAMILIES)
    return None if ok else f"{db_class!r} is not a database class offered in every " \
                           f"supported region ({offered})"
