"""backup package (filled by later issues)."""
