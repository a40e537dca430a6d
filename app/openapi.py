"""The OpenAPI document with this instance's limits written into the request schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.settings import Settings

# (schema, property, JSON-schema keyword, settings attribute)
LIMITS = (
    ("TrainRequest", "steps", "maximum", "max_steps_per_call"),
    ("CompareRequest", "steps", "maximum", "max_steps_per_call"),
    ("RunRequest", "steps", "maximum", "max_run_steps"),
    ("ForwardRequest", "text", "maxLength", "max_text_chars"),
)


def _property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    prop: dict[str, Any] = schema["properties"][name]
    # Optional fields are anyOf [{type...}, {type: null}]: the limit goes on the non-null branch.
    for branch in prop.get("anyOf", []):
        if branch.get("type") != "null":
            return branch
    return prop


def install(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.get("components", {}).get("schemas", {})
            for model, field, keyword, attribute in LIMITS:
                if model in components:
                    value = getattr(settings, attribute)
                    prop = _property(components[model], field)
                    prop[keyword] = value
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
