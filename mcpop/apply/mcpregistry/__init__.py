"""The MCPRegistry controller: sync a catalogue source into the cluster and report its status."""
