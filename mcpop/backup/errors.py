"""What the backup repository raises. Every message names the repository URL (never a credential) and what to
do next; none ever contains a secret value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mcpop.errors import McpopError

ProblemKind = Literal["missing_chunk", "corrupt_chunk", "corrupt_snapshot", "corrupt_tree"]


@dataclass(frozen=True)
class Problem:
    """One integrity problem: the object it is in and the snapshots it breaks."""

    kind: ProblemKind
    object: str
    snapshots: list[str]
    message: str


class BackupError(McpopError):
    """The root of the backup repository's errors."""


class StorageError(BackupError):
    """The storage could not be read or written (after retrying where retrying made sense)."""


class CredentialsError(StorageError):
    """The storage rejected the credentials, or none were given where some are needed."""


class BucketNotFound(StorageError):
    """The bucket or container does not exist (mcpop does not create buckets)."""


class KeyRequired(BackupError):
    """The repository is encrypted and no key was given."""


class WrongKey(BackupError):
    """The key does not open the repository (no key file decrypts with it)."""


class EncryptionMismatch(BackupError):
    """A key was given for a repository that was created unencrypted."""


class RepositoryCorrupt(BackupError):
    """Stored data failed its integrity check; `problems` says which object and which snapshots."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class RepositoryLocked(BackupError):
    """Another process holds a conflicting lock (a prune during a backup, or the other way round)."""


class SnapshotNotFound(BackupError):
    """No snapshot matches the id, prefix or time."""


class InvalidSource(BackupError):
    """A source path is absolute, escapes with `..`, repeats another, or cannot be read."""
