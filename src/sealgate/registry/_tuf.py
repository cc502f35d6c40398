"""The python-tuf and securesystemslib names the registry uses, imported in one place.

python-tuf's public modules re-export these names without ``__all__``, which mypy's strict
mode (no implicit re-export) reports as private. Importing them here once, with the
documented public paths and explicit re-exports, keeps the rest of the package typed.
"""

from __future__ import annotations

from securesystemslib.exceptions import UnverifiedSignatureError as UnverifiedSignatureError
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import CryptoSigner as CryptoSigner  # type: ignore[attr-defined]
from securesystemslib.signer import Key as Key  # type: ignore[attr-defined]
from securesystemslib.signer import Signature as Signature  # type: ignore[attr-defined]
from securesystemslib.signer import SSlibKey as SSlibKey  # type: ignore[attr-defined]
from tuf.api import exceptions as exceptions
from tuf.api.metadata import DelegatedRole as DelegatedRole  # type: ignore[attr-defined]
from tuf.api.metadata import Delegations as Delegations  # type: ignore[attr-defined]
from tuf.api.metadata import Metadata as Metadata
from tuf.api.metadata import MetaFile as MetaFile  # type: ignore[attr-defined]
from tuf.api.metadata import Root as Root  # type: ignore[attr-defined]
from tuf.api.metadata import Signed as Signed  # type: ignore[attr-defined]
from tuf.api.metadata import Snapshot as Snapshot  # type: ignore[attr-defined]
from tuf.api.metadata import SuccinctRoles as SuccinctRoles  # type: ignore[attr-defined]
from tuf.api.metadata import TargetFile as TargetFile  # type: ignore[attr-defined]
from tuf.api.metadata import Targets as Targets  # type: ignore[attr-defined]
from tuf.api.metadata import Timestamp as Timestamp  # type: ignore[attr-defined]
from tuf.api.serialization.json import JSONSerializer as JSONSerializer
from tuf.ngclient import FetcherInterface as FetcherInterface  # type: ignore[attr-defined]
from tuf.ngclient import Updater as Updater  # type: ignore[attr-defined]
from tuf.ngclient import UpdaterConfig as UpdaterConfig  # type: ignore[attr-defined]
from tuf.ngclient import Urllib3Fetcher as Urllib3Fetcher  # type: ignore[attr-defined]

__all__ = [
    "CryptoSigner",
    "DelegatedRole",
    "Delegations",
    "FetcherInterface",
    "JSONSerializer",
    "Key",
    "MetaFile",
    "Metadata",
    "Root",
    "SSlibKey",
    "Signature",
    "Signed",
    "Snapshot",
    "SslibVerificationError",
    "SuccinctRoles",
    "TargetFile",
    "Targets",
    "Timestamp",
    "UnverifiedSignatureError",
    "Updater",
    "UpdaterConfig",
    "Urllib3Fetcher",
    "exceptions",
]
