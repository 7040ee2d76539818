"""Decoding Bot API request parameters from query string, JSON, urlencoded or multipart bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from bot.sandbox.validation import ApiError, Params, Upload, bad_request

__all__ = ["JSON_FIELDS", "decode_json_fields", "read_multipart", "read_params"]

# Parameters whose values are JSON objects/arrays; form encodings send them as JSON strings.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "media",
        "commands",
        "allowed_updates",
        "scope",
        "entities",
        "caption_entities",
        "menu_button",
        "link_preview_options",
        "reply_parameters",
        "results",
        "options",
        "explanation_entities",
        "question_entities",
        "message_ids",
        "rights",
        "permissions",
        "prices",
    }
)


def decode_json_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON-string values of the known complex fields in place and return the dict."""
    for key in JSON_FIELDS & values.keys():
        value = values[key]
        if not isinstance(value, str):
            continue
        stripped = value.strip()
        if not stripped:
            values[key] = None
            continue
        if stripped[0] not in "[{" and stripped not in {"null", "true", "false"}:
            continue
        try:
            values[key] = json.loads(stripped)
        except json.JSONDecodeError:
            if key == "reply_markup":
                raise bad_request("can't parse reply keyboard markup JSON object") from None
            raise bad_request(f'can\'t parse "{key}" JSON object') from None
    return values


async def read_multipart(reader: MultipartReader) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Read every part of a multipart body into text values and uploaded files."""
    values: dict[str, Any] = {}
    files: dict[str, Upload] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        if part.filename is not None:
            content_type = part.headers.get("Content-Type")
            files[part.name] = Upload(bytes(data), part.filename, content_type)
        else:
            charset = part.get_charset(default="utf-8")
            values[part.name] = bytes(data).decode(charset)
    return values, files


async def read_params(request: web.Request) -> Params:
    """Merge query-string and body parameters of a Bot API request."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    content_type = request.content_type
    if request.can_read_body:
        if content_type == "application/json":
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise bad_request("can't parse JSON body") from None
            if body is not None and not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            values.update(body or {})
        elif content_type == "multipart/form-data":
            form_values, files = await read_multipart(await request.multipart())
            values.update(form_values)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = Upload(value.file.read(), value.filename, value.content_type)
                else:
                    values[key] = value
    return Params(decode_json_fields(values), files)
