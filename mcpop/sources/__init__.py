"""sources package (filled by later issues)."""
