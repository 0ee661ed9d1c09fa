"""The API resources the backup controller reads and writes."""

from __future__ import annotations

from mcpop.apply.runtime.client import Resource

MCPSERVERBACKUP = Resource("mcp.allbeone.io", "v1", "MCPServerBackup", "mcpserverbackups", True)
MCPSERVER = Resource("mcp.allbeone.io", "v1", "MCPServer", "mcpservers", True)
SECRET = Resource("", "v1", "Secret", "secrets", True)
CONFIGMAP = Resource("", "v1", "ConfigMap", "configmaps", True)
JOB = Resource("batch", "v1", "Job", "jobs", True)
CRONJOB = Resource("batch", "v1", "CronJob", "cronjobs", True)
POD = Resource("", "v1", "Pod", "pods", True)
#: kinds the controller renders, by kind: apiVersion
OWNED_KINDS = {
    "ServiceAccount": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "CronJob": "batch/v1",
    "Job": "batch/v1",
}
BACKUP_KIND = "MCPServerBackup"
