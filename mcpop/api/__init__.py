"""The mcp.allbeone.io/v1 API: pydantic models shared by every other package."""
