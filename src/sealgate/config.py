"""Where sealgate keeps its state and how the caller's environment is read.

Only three environment variables exist: ``SEALGATE_HOME`` (default ``~/.sealgate``),
``SEALGATE_DATABASE_URL`` (a ``postgresql://`` URL selects PostgreSQL for the audit log) and
``SEALGATE_KEY_PASSPHRASE`` (for non-interactive signing). ``SEALGATE_ALLOW_UNSIGNED`` is
read by the gate alone and honoured only as ARCHITECTURE.md "Environments" says. Nothing
here can make the gate skip a check.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealgate._dataclass import dataclass

__all__ = ["Home", "database_url_from_env", "home_from_env"]


@dataclass(frozen=True, slots=True)
class Home:
    """Paths inside one ``SEALGATE_HOME``."""

    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def repository(self) -> Path:
        return self.root / "repository"

    @property
    def trust(self) -> Path:
        return self.root / "trust"

    @property
    def audit_db(self) -> Path:
        return self.root / "audit.db"

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"

    @property
    def local_policy(self) -> Path:
        return self.root / "local-policy.json"

    @property
    def proposals(self) -> Path:
        return self.root / "proposals"

    @property
    def tools(self) -> Path:
        """The tool store: installed tool directories, re-verified by the gate on every run."""
        return self.root / "tools"


def home_from_env(explicit: str | os.PathLike[str] | None = None) -> Home:
    raw = explicit or os.environ.get("SEALGATE_HOME") or "~/.sealgate"
    return Home(Path(raw).expanduser().absolute())


def database_url_from_env() -> str | None:
    url = os.environ.get("SEALGATE_DATABASE_URL", "").strip()
    return url or None
