"""Validates api/openapi.yaml and api/asyncapi.yaml against their official
JSON Schemas: OpenAPI 3.1 with openapi-spec-validator (which ships the
OpenAPI Initiative's schema and resolves the $refs to events/schemas),
AsyncAPI 3.0.0 with jsonschema against api/metaschemas/asyncapi-3.0.0.json
(from the npm package @asyncapi/specs). Also checks that every file a
document references exists and is a 2020-12 schema.

usage: validate_docs.py REPO_ROOT
"""

import json
import pathlib
import sys

import jsonschema
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    openapi = root / "api/openapi.yaml"
    spec, _ = read_from_filename(str(openapi))
    validate(spec, base_uri=openapi.as_uri())
    print("api/openapi.yaml: valid OpenAPI", spec["openapi"])

    asyncapi = root / "api/asyncapi.yaml"
    doc = yaml.safe_load(asyncapi.read_text())
    meta = json.loads((root / "api/metaschemas/asyncapi-3.0.0.json").read_text())
    jsonschema.validators.validator_for(meta)(meta).validate(doc)
    print("api/asyncapi.yaml: valid AsyncAPI", doc["asyncapi"])

    for name, d in (("api/openapi.yaml", spec), ("api/asyncapi.yaml", doc)):
        for ref in sorted(set(refs(d))):
            if ref.startswith("#"):
                continue
            target = (root / "api" / ref.split("#")[0]).resolve()
            schema = json.loads(target.read_text())
            if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
                raise SystemExit(f"{name}: {ref} is not a JSON Schema 2020-12")
            jsonschema.Draft202012Validator.check_schema(schema)


if __name__ == "__main__":
    main()
