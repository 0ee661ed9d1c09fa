"""Registry sources: where MCPServer registry data comes from, read and validated, with no Kubernetes client.

`catalog` loads the embedded catalogue and `--registry FILE`; `official` (the MCP registry list API),
`github` (a repository's files through the contents API) and `configmap` (data handed in by the caller)
read an MCPRegistry's source; `sync` runs one sync of an MCPRegistry spec over them. `http` is the pooled
HTTP client, `retry` the retry budgets, `errors` the typed errors (all `SourceError`, an `McpopError`).
"""
