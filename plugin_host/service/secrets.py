"""Settings that name a secret instead of holding it, resolved once when a service starts,
so that database passwords, admin tokens and plugin secrets live in the cloud's secret
store and in no file or inventory:

- ``aws-sm://NAME-OR-ARN`` — AWS Secrets Manager, through boto3 and the machine's
  identity (instance profile, or the usual AWS variables); the region from the ARN or
  ``AWS_REGION``; ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` points it elsewhere (an emulator);
- ``gcp-sm://projects/P/secrets/S[/versions/V]`` — Google Secret Manager, through the
  machine's service account (``latest`` version unless named);
- ``file:///PATH`` — a file's contents (systemd credentials, a mounted secret);

each optionally followed by ``#KEY`` to take one key of a JSON secret
(``aws-sm://koha/db#url``). Any other value is the value itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SCHEMES = ("aws-sm://", "gcp-sm://", "file://")


class SecretError(ValueError):
    """A reference that cannot be resolved; the message names the reference and why."""


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES)


def resolve(value: str) -> str:
    """The secret ``value`` refers to, or ``value`` itself if it is not a reference."""
    if not is_reference(value):
        return value
    ref, _, key = value.partition("#")
    if ref.startswith("aws-sm://"):
        text = _aws(ref.removeprefix("aws-sm://"))
    elif ref.startswith("gcp-sm://"):
        text = _gcp(ref.removeprefix("gcp-sm://"))
    else:
        text = _file(ref.removeprefix("file://"))
    if not key:
        return text.strip()
    try:
        found = json.loads(text)[key]
    except (ValueError, TypeError, KeyError):
        raise SecretError(f"{ref}: the secret is not a JSON object with a key {key!r}") \
            from None
    if not isinstance(found, str | int | float):
        raise SecretError(f"{ref}#{key}: not a string")
    return str(found)


def _aws(name: str) -> str:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise SecretError("aws-sm:// secrets need boto3: pip install "
                          "'koha-plugin-host[aws]'") from None
    region = name.split(":")[3] if name.startswith("arn:") else None
    try:
        client = boto3.client("secretsmanager", region_name=region or
                              os.environ.get("AWS_REGION") or
                              os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        answer = client.get_secret_value(SecretId=name)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"aws-sm://{name}: {code}: "
                          f"{e.response.get('Error', {}).get('Message', '')}") from None
    except BotoCoreError as e:
        raise SecretError(f"aws-sm://{name}: {e}") from None
    if "SecretString" in answer:
        return answer["SecretString"]
    return answer["SecretBinary"].decode()


def _gcp(name: str) -> str:  # pragma: no cover - no Secret Manager emulator exists
    """GCP Secret Manager has no emulator to test against (AWS's path is tested with
    moto's server); this is the client library's own call and its errors."""
    try:
        from google.api_core.exceptions import GoogleAPIError
        from google.cloud import secretmanager
    except ImportError:
        raise SecretError("gcp-sm:// secrets need google-cloud-secret-manager: pip install "
                          "'koha-plugin-host[gcp]'") from None
    if "/versions/" not in name:
        name += "/versions/latest"
    try:
        answer = secretmanager.SecretManagerServiceClient().access_secret_version(name=name)
    except GoogleAPIError as e:
        raise SecretError(f"gcp-sm://{name}: {e}") from None
    return answer.payload.data.decode()


def _file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as e:
        raise SecretError(f"file://{path}: {e.strerror}") from None
