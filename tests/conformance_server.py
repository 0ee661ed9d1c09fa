"""The conformance test server: a stdio MCP server on the official MCP Python SDK's low-level `Server`, serving
what each server scenario of the official conformance suite (`@modelcontextprotocol/conformance`, see
tools/conformance) asks its server under test for: the tools, resources, prompts, completion and logging the
scenario descriptions name, with the texts they expect. tests/conformance/ runs it behind mcpop-bridge.

Run it with the SDK's bare interpreter (`tools/mcp-sdk python`), never mcpop's: the SDK is not installed in
mcpop's environment. Written from the scenarios' descriptions and checks (the package's dist/index.js).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import warnings
import wave
import zlib
from typing import Any

import mcp_types as t
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

warnings.simplefilter("ignore")  # logging/setLevel is deprecated in 2026-07-28; the suite speaks 2025-11-25

Ctx = ServerRequestContext[Any, Any]


def _png() -> str:
    """A 1x1 red pixel PNG, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def _wav() -> str:
    """A tenth of a second of silence, 8 kHz mono 16-bit WAV, base64."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return base64.b64encode(buf.getvalue()).decode()


PNG, WAV = _png(), _wav()
NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _text(text: str) -> t.TextContent:
    return t.TextContent(type="text", text=text)


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> t.Tool:
    return t.Tool(name=name, description=description, input_schema=schema or NO_ARGS)


def _str_args(*names: str, **descriptions: str) -> dict[str, Any]:
    return {"type": "object", "properties": {n: {"type": "string", "description": descriptions.get(n, n)}
                                             for n in names}, "required": list(names)}  # fmt: skip


TOOLS = [
    _tool("test_simple_text", "Returns a simple text"),
    _tool("test_image_content", "Returns a PNG image"),
    _tool("test_audio_content", "Returns a WAV sound"),
    _tool("test_embedded_resource", "Returns an embedded text resource"),
    _tool("test_multiple_content_types", "Returns text, an image and a resource"),
    _tool("test_tool_with_logging", "Sends three info log messages while it runs"),
    _tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
    _tool("test_error_handling", "Always fails"),
    _tool("test_sampling", "Asks the client's LLM", _str_args("prompt", prompt="The prompt to send to the LLM")),
    _tool("test_elicitation", "Asks the user", _str_args("message", message="The message to show the user")),
    _tool("test_elicitation_sep1034_defaults", "Asks the user, with a default for every primitive type"),
    _tool("test_elicitation_sep1330_enums", "Asks the user, with every enum schema variant"),
    _tool("test_reconnection", "Answers after a short wait (the stream is the transport's business)"),
    _tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"},
                                                                   "city": {"type": "string"}}}},
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        }),
]  # fmt: skip

SEP1034_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    },
}

SEP1330_SCHEMA = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {"type": "string", "oneOf": [
            {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
            {"const": "value3", "title": "Third Option"}]},
        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                       "enumNames": ["Option One", "Option Two", "Option Three"]},
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {"type": "array", "items": {"anyOf": [
            {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"},
            {"const": "value3", "title": "Third Choice"}]}},
    },
}  # fmt: skip


async def list_tools(ctx: Ctx, params: Any) -> t.ListToolsResult:
    return t.ListToolsResult(tools=TOOLS)


async def _elicit(ctx: Ctx, message: str, schema: dict[str, Any]) -> t.ElicitResult:
    return await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)


async def call_tool(ctx: Ctx, params: t.CallToolRequestParams) -> t.CallToolResult:
    args = params.arguments or {}
    content: list[Any]
    match params.name:
        case "test_simple_text":
            content = [_text("This is a simple text response for testing.")]
        case "test_image_content":
            content = [t.ImageContent(type="image", data=PNG, mime_type="image/png")]
        case "test_audio_content":
            content = [t.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]
        case "test_embedded_resource":
            content = [t.EmbeddedResource(type="resource", resource=t.TextResourceContents(
                uri="test://embedded-resource", mime_type="text/plain",
                text="This is an embedded resource content."))]  # fmt: skip
        case "test_multiple_content_types":
            content = [
                _text("Multiple content types test:"),
                t.ImageContent(type="image", data=PNG, mime_type="image/png"),
                t.EmbeddedResource(type="resource", resource=t.TextResourceContents(
                    uri="test://mixed-content-resource", mime_type="application/json",
                    text=json.dumps({"test": "data", "value": 123}))),
            ]  # fmt: skip
        case "test_tool_with_logging":
            for i, msg in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
                if i:
                    await asyncio.sleep(0.05)
                await ctx.session.send_log_message("info", msg, related_request_id=ctx.request_id)
            content = [_text("Tool with logging executed successfully")]
        case "test_tool_with_progress":
            for i, done in enumerate((0, 50, 100)):
                if i:
                    await asyncio.sleep(0.05)
                await ctx.session.report_progress(done, 100)
            content = [_text("Tool with progress executed successfully")]
        case "test_error_handling":
            failure = "This tool intentionally returns an error for testing"
            return t.CallToolResult(is_error=True, content=[_text(failure)])
        case "test_sampling":
            if not ctx.session.check_client_capability(t.ClientCapabilities(sampling=t.SamplingCapability())):
                return t.CallToolResult(is_error=True, content=[_text("the client does not support sampling")])
            result = await ctx.session.create_message(
                [t.SamplingMessage(role="user", content=_text(str(args.get("prompt", ""))))],
                max_tokens=100, related_request_id=ctx.request_id)  # fmt: skip
            reply = result.content
            text = reply.text if isinstance(reply, t.TextContent) else json.dumps(reply.model_dump(mode="json"))
            content = [_text(f"LLM response: {text}")]
        case "test_elicitation":
            if not ctx.session.check_client_capability(t.ClientCapabilities(elicitation=t.ElicitationCapability())):
                return t.CallToolResult(is_error=True, content=[_text("the client does not support elicitation")])
            schema = {"type": "object", "required": ["username", "email"], "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}}}  # fmt: skip
            answer = await _elicit(ctx, str(args.get("message", "")), schema)
            content = [_text(f"User response: action={answer.action}, content={json.dumps(answer.content)}")]
        case "test_elicitation_sep1034_defaults" | "test_elicitation_sep1330_enums":
            sep1034 = params.name.endswith("defaults")
            answer = await _elicit(ctx, "Please review and update the form fields",
                                   SEP1034_SCHEMA if sep1034 else SEP1330_SCHEMA)  # fmt: skip
            content = [_text(f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}")]
        case "test_reconnection":
            await asyncio.sleep(0.1)
            content = [_text("Reconnection test completed")]
        case "json_schema_2020_12_tool":
            content = [_text(f"Received: {json.dumps(args, sort_keys=True)}")]
        case _:
            return t.CallToolResult(is_error=True, content=[_text(f"unknown tool {params.name}")])
    return t.CallToolResult(content=content)


RESOURCES = [
    t.Resource(uri="test://static-text", name="static-text", description="A static text resource",
               mime_type="text/plain"),
    t.Resource(uri="test://static-binary", name="static-binary", description="A static PNG image",
               mime_type="image/png"),
    t.Resource(uri="test://watched-resource", name="watched-resource", description="A resource one can subscribe to",
               mime_type="text/plain"),
]  # fmt: skip
TEMPLATE = "test://template/{id}/data"
SUBSCRIBED: set[str] = set()


async def list_resources(ctx: Ctx, params: Any) -> t.ListResourcesResult:
    return t.ListResourcesResult(resources=RESOURCES)


async def list_templates(ctx: Ctx, params: Any) -> t.ListResourceTemplatesResult:
    template = t.ResourceTemplate(uri_template=TEMPLATE, name="template-data", description="Data for an id",
                                  mime_type="application/json")  # fmt: skip
    return t.ListResourceTemplatesResult(resource_templates=[template])


async def read_resource(ctx: Ctx, params: t.ReadResourceRequestParams) -> t.ReadResourceResult:
    uri = str(params.uri)
    contents: list[t.TextResourceContents | t.BlobResourceContents]
    if uri == "test://static-text":
        contents = [t.TextResourceContents(uri=uri, mime_type="text/plain",
                                           text="This is the content of the static text resource.")]  # fmt: skip
    elif uri == "test://static-binary":
        contents = [t.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)]
    elif uri == "test://watched-resource":
        contents = [t.TextResourceContents(uri=uri, mime_type="text/plain", text="Watched resource content.")]
    elif uri.startswith("test://template/") and uri.endswith("/data") and uri.count("/") == 4:
        rid = uri.split("/")[3]
        data = {"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"}
        contents = [t.TextResourceContents(uri=uri, mime_type="application/json", text=json.dumps(data))]
    else:
        raise ValueError(f"unknown resource {uri}")
    return t.ReadResourceResult(contents=contents)


async def subscribe(ctx: Ctx, params: t.SubscribeRequestParams) -> t.EmptyResult:
    SUBSCRIBED.add(str(params.uri))
    return t.EmptyResult()


async def unsubscribe(ctx: Ctx, params: t.UnsubscribeRequestParams) -> t.EmptyResult:
    SUBSCRIBED.discard(str(params.uri))
    return t.EmptyResult()


PROMPTS = [
    t.Prompt(name="test_simple_prompt", description="A prompt without arguments"),
    t.Prompt(name="test_prompt_with_arguments", description="A prompt with two arguments", arguments=[
        t.PromptArgument(name="arg1", description="First test argument", required=True),
        t.PromptArgument(name="arg2", description="Second test argument", required=True)]),
    t.Prompt(name="test_prompt_with_embedded_resource", description="A prompt embedding a resource", arguments=[
        t.PromptArgument(name="resourceUri", description="URI of the resource to embed", required=True)]),
    t.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]  # fmt: skip


async def list_prompts(ctx: Ctx, params: Any) -> t.ListPromptsResult:
    return t.ListPromptsResult(prompts=PROMPTS)


def _user(content: Any) -> t.PromptMessage:
    return t.PromptMessage(role="user", content=content)


async def get_prompt(ctx: Ctx, params: t.GetPromptRequestParams) -> t.GetPromptResult:
    args = params.arguments or {}
    match params.name:
        case "test_simple_prompt":
            messages = [_user(_text("This is a simple prompt for testing."))]
        case "test_prompt_with_arguments":
            messages = [_user(_text(f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"))]
        case "test_prompt_with_embedded_resource":
            resource = t.TextResourceContents(uri=args.get("resourceUri", "test://example-resource"),
                                              mime_type="text/plain",
                                              text="Embedded resource content for testing.")  # fmt: skip
            messages = [_user(t.EmbeddedResource(type="resource", resource=resource)),
                        _user(_text("Please process the embedded resource above."))]  # fmt: skip
        case "test_prompt_with_image":
            messages = [_user(t.ImageContent(type="image", data=PNG, mime_type="image/png")),
                        _user(_text("Please analyze the image above."))]  # fmt: skip
        case _:
            raise ValueError(f"unknown prompt {params.name}")
    return t.GetPromptResult(messages=messages)


async def complete(ctx: Ctx, params: t.CompleteRequestParams) -> t.CompleteResult:
    words = ["paris", "park", "party", "test", "testing"]
    values = [w for w in words if w.startswith(params.argument.value)]
    return t.CompleteResult(completion=t.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: Ctx, params: t.SetLevelRequestParams) -> t.EmptyResult:
    return t.EmptyResult()


server = Server(
    "mcpop-conformance-server",
    version="1.0.0",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_list_resource_templates=list_templates,
    on_read_resource=read_resource,
    on_subscribe_resource=subscribe,
    on_unsubscribe_resource=unsubscribe,
    on_list_prompts=list_prompts,
    on_get_prompt=get_prompt,
    on_completion=complete,
    on_set_logging_level=set_level,
)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    asyncio.run(main())
