"""The operator: everything that talks to the cluster.

`runtime` is generic controller machinery, `ssa` applies an object set and reports a change set, and the
two controllers (`mcpserver`, `mcpregistry`) sit on top; `catalog_store` is the stored-catalogue format
the registry controller writes and the MCPServer controller reads; `manager` assembles the process.
"""
