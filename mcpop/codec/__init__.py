"""YAML and JSON in and out, for every layer: `reader` (the one reader, with limits) and `emitter` (the one
writer). Pure: text in, data out, and back. Imports nothing here, so `mcp status -o json` loads neither
PyYAML nor pydantic."""
