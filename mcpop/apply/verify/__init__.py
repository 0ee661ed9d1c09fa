"""The `Verified` condition: the operator speaks MCP to what it deploys (the official MCP Python SDK client).

`sdk` finds the SDK (installed beside, never into, the operator's environment), `probe` performs one
handshake and classifies its outcome, `verifier` runs probes off the reconcile path in a small bounded pool
and re-runs them periodically, feeding changed results back to the controller's work queue.
"""
