"""apply package (filled by later issues)."""
