"""The MCPServer controller: reconcile, status, referenced ConfigMaps/Secrets, the kinds it owns."""
