"""The MCPServerBackup controller (renders and applies the backup CronJob/Jobs, reports status) and the
backup run itself (`mcp backup run`), which talks to the repository library in mcpop.backup."""
