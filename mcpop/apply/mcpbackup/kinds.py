"""The API resources the backup controller reads and writes."""

from __future__ import annotations

#: kinds the controller renders, by kind: apiVersion
OWNED_KINDS = {
    "ServiceAccount": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "CronJob": "batch/v1",
    "Job": "batch/v1",
}
BACKUP_KIND = "MCPServerBackup"
