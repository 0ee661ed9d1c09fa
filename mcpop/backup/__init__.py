"""Backup repositories for MCPServerBackup: restic-like, content-addressed, deduplicated, compressed and
encrypted, on S3, GCS, Azure Blob or a local directory (through fsspec).

    repo = Repository.open_location(location_for(spec.storage, namespace=ns, name=name, secret=resolve),
                                    key=key_or_none, compression=spec.compression)
    snap = repo.backup([MemoryFile("config/mcpserver.yaml", data), FileTree("/mnt/pvc", "data/pvc")],
                       kind="Incremental", meta={"server": "default/fs"})
"""

from mcpop.backup.errors import (
    BackupError,
    BucketNotFound,
    CredentialsError,
    EncryptionMismatch,
    InvalidSource,
    KeyRequired,
    Problem,
    RepositoryCorrupt,
    RepositoryLocked,
    SnapshotNotFound,
    StorageError,
    WrongKey,
)
from mcpop.backup.location import Location, location_for, location_from_url
from mcpop.backup.model import (
    FileTree,
    MemoryFile,
    PruneReport,
    RestoreReport,
    Snapshot,
    Source,
    VerifyReport,
)
from mcpop.backup.repository import Repository, RepositoryNotFound
from mcpop.backup.retention import RetentionPolicy, Selection, select
from mcpop.backup.storage import RetryPolicy

__all__ = [
    "BackupError",
    "BucketNotFound",
    "CredentialsError",
    "EncryptionMismatch",
    "FileTree",
    "InvalidSource",
    "KeyRequired",
    "Location",
    "MemoryFile",
    "Problem",
    "PruneReport",
    "Repository",
    "RepositoryCorrupt",
    "RepositoryLocked",
    "RepositoryNotFound",
    "RestoreReport",
    "RetentionPolicy",
    "RetryPolicy",
    "Selection",
    "Snapshot",
    "SnapshotNotFound",
    "Source",
    "StorageError",
    "VerifyReport",
    "WrongKey",
    "location_for",
    "location_from_url",
    "select",
]
