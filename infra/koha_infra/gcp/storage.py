"""The artifact store on GCP (Cloud Storage + Cloud CDN): package and index buckets, a
backup bucket in another region and a CDN for the index."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp
from pulumi import ComponentResource, Output, ResourceOptions

from ..components import child_opts as _opts
from ..config import StackConfig


@dataclass
class ArtifactStoreArgs:
    """What ArtifactStore is built from."""

    config: StackConfig


class ArtifactStore(ComponentResource):
    """Package and index buckets, a backup bucket in another region, a CDN for the index.

    Creates: a KMS key ring and key (CMEK, 90-day rotation) in each region, granted to
    the Google service agents that encrypt with it (Cloud Storage everywhere; Cloud SQL
    and Secret Manager in the main region); buckets ``packages``, ``index``, ``logs``
    and ``backup``, each with uniform bucket-level access, versioning, CMEK,
    noncurrent-version expiry (GCS serves HTTPS only, so TLS-only needs no policy) and
    public access prevention enforced, except ``index``; access logging to ``logs``; a
    Storage Transfer job copying packages and index to ``backup`` daily; a backend
    bucket with Cloud CDN, a URL map, an HTTPS proxy with a managed certificate and a
    global forwarding rule in front of the index.

    The index bucket is readable by everyone (``allUsers``, objectViewer, labelled
    ``access: public-read``): a Cloud CDN backend bucket reads only public objects
    (unless every request is signed, which plugin hosts cannot do). What it holds is
    public by design (the signed TUF metadata and approved packages every library
    downloads; their integrity comes from the signatures, not secrecy). Uploads and
    packages in review stay in ``packages``, which nobody outside may read.
    """

    def __init__(self, name: str, args: ArtifactStoreArgs,
                 opts: ResourceOptions | None = None):
        super().__init__("koha:storage:ArtifactStore", name, None, opts)
        cfg = args.config
        project = gcp.organizations.get_project_output(project_id=cfg.project)
        gcs_agent = project.number.apply(
            lambda n: f"serviceAccount:service-{n}@gs-project-accounts.iam.gserviceaccount.com")
        agents = {"storage": gcs_agent}
        for label, api in (("sql", "sqladmin.googleapis.com"),
                           ("secretmanager", "secretmanager.googleapis.com")):
            agent = gcp.projects.ServiceIdentity(f"{name}-{label}-agent", project=cfg.project,
                                                 service=api, opts=_opts(self))
            agents[label] = agent.email.apply(lambda e: f"serviceAccount:{e}")
        self.key = self._key(f"{name}-key", cfg, cfg.region, agents)
        self.backup_key = self._key(f"{name}-backup-key", cfg, cfg.backup_region,
                                    {"storage": gcs_agent})
        self.logs = self._bucket(f"{name}-logs", cfg, cfg.region, self.key, None, "logs")
        self.backup = self._bucket(f"{name}-backup", cfg, cfg.backup_region, self.backup_key,
                                   None, "backup")
        self.packages = self._bucket(f"{name}-packages", cfg, cfg.region, self.key, self.logs,
                                     "packages")
        self.index = self._bucket(f"{name}-index", cfg, cfg.region, self.key, self.logs,
                                  "index", public_read=True)
        gcp.storage.BucketIAMMember(f"{name}-index-public", bucket=self.index.name,
                                    role="roles/storage.objectViewer", member="allUsers",
                                    opts=_opts(self))
        for label, bucket in (("packages", self.packages), ("index", self.index)):
            gcp.storage.TransferJob(
                f"{name}-{label}-backup", project=cfg.project,
                description=f"Koha {label} to the backup bucket",
                transfer_spec={"gcs_data_source": {"bucket_name": bucket.name},
                               "gcs_data_sink": {"bucket_name": self.backup.name,
                                                 "path": f"{label}/"}},
                schedule={"schedule_start_date": {"year": 2026, "month": 1, "day": 1},
                          "repeat_interval": "86400s"},
                opts=_opts(self))
        backend = gcp.compute.BackendBucket(
            f"{name}-index-cdn", project=cfg.project, bucket_name=self.index.name,
            enable_cdn=True, cdn_policy={"cache_mode": "CACHE_ALL_STATIC",
                                         "default_ttl": 60, "max_ttl": 300},
            opts=_opts(self))
        url_map = gcp.compute.URLMap(f"{name}-index", project=cfg.project,
                                     default_service=backend.self_link, opts=_opts(self))
        ip = gcp.compute.GlobalAddress(f"{name}-index", project=cfg.project,
                                       labels=cfg.tags, opts=_opts(self))
        cert = gcp.compute.ManagedSslCertificate(
            f"{name}-index", project=cfg.project, opts=_opts(self),
            managed={"domains": [ip.address.apply(lambda a: f"{a}.nip.io")]})
        policy = gcp.compute.SSLPolicy(f"{name}-index", project=cfg.project,
                                       min_tls_version="TLS_1_2", profile="MODERN",
                                       opts=_opts(self))
        proxy = gcp.compute.TargetHttpsProxy(f"{name}-index", project=cfg.project,
                                             url_map=url_map.self_link,
                                             ssl_certificates=[cert.self_link],
                                             ssl_policy=policy.self_link, opts=_opts(self))
        gcp.compute.GlobalForwardingRule(f"{name}-index", project=cfg.project,
                                         target=proxy.self_link, port_range="443",
                                         ip_address=ip.address, labels=cfg.tags,
                                         opts=_opts(self))
        self.index_url = ip.address.apply(lambda a: f"https://{a}.nip.io")
        self.register_outputs({"packages_bucket": self.packages.name,
                               "index_bucket": self.index.name,
                               "backup_bucket": self.backup.name,
                               "index_url": self.index_url})

    def _key(self, name: str, cfg: StackConfig, location: str,
             agents: dict[str, Output[str]]):
        ring = gcp.kms.KeyRing(name, project=cfg.project, location=location,
                               opts=_opts(self))
        key = gcp.kms.CryptoKey(name, key_ring=ring.id, rotation_period="7776000s",
                                labels=cfg.tags, opts=_opts(self))
        for label, agent in agents.items():
            gcp.kms.CryptoKeyIAMMember(
                name if label == "storage" else f"{name}-{label}", crypto_key_id=key.id,
                member=agent, role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                opts=_opts(self))
        return key

    def _bucket(self, name: str, cfg: StackConfig, location: str, key: gcp.kms.CryptoKey,
                logs_to: gcp.storage.Bucket | None, purpose: str,
                public_read: bool = False) -> gcp.storage.Bucket:
        labels = {**cfg.tags, "purpose": purpose,
                  **({"access": "public-read"} if public_read else {})}
        return gcp.storage.Bucket(
            name, project=cfg.project, location=location, labels=labels,
            uniform_bucket_level_access=True,
            public_access_prevention="inherited" if public_read else "enforced",
            versioning={"enabled": True}, encryption={"default_kms_key_name": key.id},
            force_destroy=not cfg.is_prod,
            lifecycle_rules=[{"action": {"type": "Delete"},
                              "condition": {"with_state": "ARCHIVED",
                                            "days_since_noncurrent_time":
                                                cfg.noncurrent_version_days}}],
            logging={"log_bucket": logs_to.name} if logs_to is not None else None,
            opts=_opts(self))
