{{- define "mcpservers.labels" -}}
app.kubernetes.io/name: mcpserver
app.kubernetes.io/instance: {{ .name }}
app.kubernetes.io/version: {{ .tag | default "latest" }}
app.kubernetes.io/component: mcp-server
app.kubernetes.io/part-of: mcp
app.kubernetes.io/managed-by: mcpop
mcp.allbeone.io/server: {{ .name }}
{{- end -}}
{{- define "mcpservers.selector" -}}
app.kubernetes.io/name: mcpserver
app.kubernetes.io/instance: {{ .name }}
{{- end -}}
