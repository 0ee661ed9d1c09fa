"""Admission webhooks served by the operator: validating (the same checks as `mcp render`) and mutating
(the CRD's defaults), over TLS with certificates reloaded when they change, optionally self-managed."""
