"""The OpenAPI document: the routes' own, completed so that every operation documents its answers.

:func:`build` takes FastAPI's document and

- documents every error answer as problem details (``application/problem+json``) of its own kind:
  the schema of :data:`service.errors.PROBLEMS` and an example per kind (the routes name them with
  ``responses=problem_responses(...)``; FastAPI's generic 422 becomes ``/problems/invalid-input``,
  and every POST adds the ``Idempotency-Key`` problems of :mod:`service.integration.idempotency`);
- documents the 400 of a request body that does not parse, on every operation that takes one;
- gives every JSON request body and success answer without an example one built from its schema:
  each field's own example (``Field(examples=...)``, a model's ``examples``, an enum's first value,
  a default), or :data:`PROPERTY_EXAMPLES` for models defined outside the wire-model modules.

It also adds the ``Idempotency-Key`` header to every POST (:func:`service.integration.idempotency.document`)
and the webhooks the app documents (``app.webhooks``, OpenAPI 3.1: :mod:`service.integration.runtime`).
This is the one customisation of the document; ``service/app.py`` sets ``app.openapi`` to it.

A field without any of these leaves the example out, and ``tests/service/test_openapi_contract.py``
fails, naming the field: the document never carries a made-up value.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from service.errors import DEFAULT_KINDS, PROBLEM_JSON, PROBLEMS, ProblemKind, problem_response_doc
from service.integration import idempotency

#: Examples of fields whose models live outside ``service/models.py`` and
#: ``service/integration/models.py`` (rounds, policies, explanations), by ``Schema.property``.
PROPERTY_EXAMPLES: dict[str, Any] = {
    "Comparison.round_a": "r-1a2b3c4d5e6f",
    "Comparison.round_b": "r-6f5e4d3c2b1a",
    "Policy.id": "gothenburg",
    "Policy.name": "Göteborgs Stad: employment requirements in public contracts",
    "Policy.municipality": "Göteborg",
    "Policy.region": "Västra Götaland",
    "QualifyingRule.min_contract_months": 12,
    "Distribution.keys": {"angered": 0.3, "centrum": 0.7},
    "ShortlistExplanation.terms": {"competence": {
        "value": 1.0, "weight": 40.0, "points": 40.0,
        "text": "has 1 of 1 required (Lokalvård); has 1 of 1 wanted (B-körkort)"}},
}

#: Examples by JSON Schema ``format``, for fields that are only typed (every moment is UTC, with ``Z``).
FORMAT_EXAMPLES = {"date-time": "2026-09-01T08:00:00Z", "date": "2026-09-01"}

_REF = "#/components/schemas/"


class _Missing(Exception):
    """A field with no example: the path to it."""


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then kept on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_problem_schemas(components)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            _complete(operation, method, path, components)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    idempotency.document(schema)
    _add_webhooks(app, schema)
    app.openapi_schema = schema
    return schema


def _add_webhooks(app: FastAPI, schema: dict[str, Any]) -> None:
    """The app's webhooks (``app.webhooks``), and the schemas they name that the routes do not."""
    # A document of the webhooks alone: their operations are the receivers' to answer, not
    # completed as the routes' are.
    extra = get_openapi(title=app.title, version=app.version, routes=[], webhooks=app.webhooks.routes)
    schema["webhooks"] = extra.get("webhooks", {})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in extra.get("components", {}).get("schemas", {}).items():
        components.setdefault(name, definition)


def _add_problem_schemas(components: dict[str, Any]) -> None:
    models = list(dict.fromkeys(kind.model for kind in PROBLEMS.values()))
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=_REF + "{model}")
    for name, definition in top.get("$defs", {}).items():
        components.setdefault(name, definition)


def _complete(operation: dict[str, Any], method: str, path: str, components: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.get("responses", {})
    for code, response in list(responses.items()):
        if code.isdigit() and int(code) >= 400:
            responses[code] = _problem_doc(int(code), response, method, path)
        elif code.startswith("2"):
            _add_examples(response.get("content", {}), components, f"{method.upper()} {path} {code}")
    if method == "post":
        # Every POST takes an Idempotency-Key (service.integration.idempotency): its two problems.
        for status, slug in ((409, "idempotency-key-in-progress"), (422, "idempotency-key-reused")):
            current = responses.get(str(status))
            responses[str(status)] = _problem_doc(status, current, method, path, also=slug)
    body = operation.get("requestBody", {})
    if body and "400" not in responses:
        # A body that does not parse as its media type is refused before validation.
        responses["400"] = _problem_doc(400, None, method, path)
    if body and "413" not in responses:
        # The gate (service.gate) refuses a body over the size limit before reading it.
        responses["413"] = _problem_doc(413, None, method, path)
    if "401" in responses and "429" not in responses:
        # The gate limits failed authentications per client address and per presented key.
        responses["429"] = _problem_doc(429, None, method, path)
    _add_examples(body.get("content", {}), components, f"{method.upper()} {path} body")


def _problem_doc(status: int, response: dict[str, Any] | None, method: str, path: str,
                 also: str | None = None) -> dict[str, Any]:
    """The response object of ``status``: the kinds the route named (else the status' own), and ``also``."""
    kinds: list[ProblemKind] = []
    media = (response or {}).get("content", {}).get(PROBLEM_JSON, {})
    for example in ([media["example"]] if "example" in media else
                    [e["value"] for e in media.get("examples", {}).values()]):
        slug = str(example.get("type", "")).removeprefix("/problems/")
        if slug in PROBLEMS:
            kinds.append(PROBLEMS[slug])
    if not kinds:
        kinds.append(PROBLEMS[DEFAULT_KINDS[status]])
    if also is not None and PROBLEMS[also] not in kinds:
        kinds.append(PROBLEMS[also])
    return problem_response_doc(kinds, instance=path)


def _add_examples(content: dict[str, Any], components: dict[str, Any], where: str) -> None:
    for media in content.values():
        if "schema" not in media or "example" in media or "examples" in media:
            continue
        with contextlib.suppress(_Missing):  # left out: the contract test names the field
            media["example"] = example_of(media["schema"], components)


def example_of(schema: dict[str, Any], components: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """An example of ``schema`` from its fields' own examples (:class:`_Missing` if a field has none)."""
    if depth > 12:
        raise _Missing(name)
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("example", "const", "default"):
        if key in schema:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    if "$ref" in schema:
        ref = schema["$ref"].removeprefix(_REF)
        return example_of(components[ref], components, ref, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return example_of(options[0], components, name, depth + 1) if options else None
    if "allOf" in schema:
        return example_of(schema["allOf"][0], components, name, depth + 1)
    kind = schema.get("type")
    if "properties" in schema:
        out = {}
        for prop, sub in schema["properties"].items():
            key = f"{name}.{prop}"
            out[prop] = (PROPERTY_EXAMPLES[key] if key in PROPERTY_EXAMPLES
                         else example_of(sub, components, key, depth + 1))
        return out
    if kind == "array":
        return [example_of(schema.get("items", {}), components, name + "[]", depth + 1)]
    if schema.get("format") in FORMAT_EXAMPLES:
        return FORMAT_EXAMPLES[schema["format"]]
    raise _Missing(name)


def missing_examples(document: dict[str, Any]) -> list[str]:
    """Every field without an example in a request body or success answer that has none of its own."""
    components = document.get("components", {}).get("schemas", {})
    out = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            contents = [operation.get("requestBody", {}).get("content", {})] + [
                r.get("content", {}) for c, r in operation.get("responses", {}).items() if c.startswith("2")]
            for content in contents:
                for media in content.values():
                    if "schema" in media and "example" not in media and "examples" not in media:
                        try:
                            example_of(media["schema"], components)
                        except _Missing as exc:
                            out.append(f"{method.upper()} {path}: {exc}")
    return out
