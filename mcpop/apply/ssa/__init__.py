"""Server-side apply of an object set: apply, drift detection, ApplySet bookkeeping, prune, change sets."""
