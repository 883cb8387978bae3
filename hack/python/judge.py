"""The independent judge of the differential test (functions/contract/differential_test.go).

Reads JSON lines {"id", "schema", "body" (base64)} on stdin and writes one
line per body: {"id", "valid", "why", "rules"}. "valid" is the verdict of
jsonschema (JSON Schema 2020-12, format assertion on) over the body parsed
strictly: UTF-8 without a byte order mark, RFC 8259 only (no NaN or
Infinity), no duplicate member names, no lone surrogates, numbers exact
(decimal, never float). "rules" names the rules a schema cannot express
that the body breaks, each checked here by code of its own: the contract's
named exceptions. Shares no code with the Go implementation.

With OPENAPI (api/openapi.yaml), a case's "schema" may also be a JSON
pointer into that document ("#/components/schemas/BoardDay"): the body is
judged by the schema there, whose references resolve as the document's do
(local ones within it, "../events/schemas/..." to SCHEMA_DIR).

usage: judge.py SCHEMA_DIR TODAY OLDEST [OPENAPI]   (dates dd/mm/yyyy)
"""

import base64
import datetime
import decimal
import json
import pathlib
import re
import sys
import threading
import urllib.parse

import jsonschema
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ABSENT_OK = {"summary-request.json"}  # an optional request body
JSON_WS = b" \t\r\n"
DATE = re.compile(r"\A([0-9]{2})/([0-9]{2})/([0-9]{4})\Z")


def is_integral(checker, instance):
    """JSON Schema's integer: any number whose fractional part is zero."""
    if isinstance(instance, bool):
        return False
    if isinstance(instance, int):
        return True
    if isinstance(instance, decimal.Decimal) and instance.is_finite():
        sign, digits, exponent = instance.as_tuple()
        if exponent >= 0:
            return True
        return all(d == 0 for d in digits[exponent:])
    return False


TYPES = Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integral)
# Registered as the validator of the 2020-12 dialect: a $ref into another
# resource that names its "$schema" (every file in SCHEMA_DIR) switches to
# the class registered for it, which must keep this integer.
Validator = jsonschema.validators.validates("draft2020-12")(jsonschema.validators.extend(Draft202012Validator, type_checker=TYPES))


class Refused(Exception):
    pass


def unique(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Refused("duplicate member name")
    return dict(pairs)


def no_constant(name):
    raise Refused("not JSON: " + name)


def check_strings(value):
    """Refuses lone surrogates (escaped \\ud800 is not Unicode text)."""
    stack = [value]
    while stack:
        v = stack.pop()
        items = []
        if isinstance(v, dict):
            items = list(v.keys()) + list(v.values())
        elif isinstance(v, list):
            items = v
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise Refused("lone surrogate")
        stack.extend(items)


def parse(data):
    try:
        text = data.decode("utf-8")  # strict: no invalid UTF-8; a BOM stays and json refuses it
        value = json.loads(
            text,
            object_pairs_hook=unique,
            parse_float=decimal.Decimal,
            parse_int=decimal.Decimal,
            parse_constant=no_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Refused(f"not strict JSON: {e}"[:200])
    check_strings(value)
    return value


def day(s):
    m = DATE.match(s) if isinstance(s, str) else None
    if not m:
        return None
    d, mth, y = (int(x) for x in m.groups())
    try:
        return datetime.date(y, mth, d)
    except ValueError:
        return "no such day"


def rules(schema, value, today, oldest):
    """The named exceptions: rules the schemas state in words."""
    broken = []
    if not isinstance(value, dict):
        return broken
    d = day(value.get("fecha"))
    if d == "no such day":
        broken.append("calendar-date")
    elif d is not None and schema == "summary-request.json":
        if d > today:
            broken.append("not-in-the-future")
        if d < oldest:
            broken.append("within-retention")
    if schema == "summary.json" and isinstance(value.get("ventas"), dict):
        for sales in value["ventas"].values():
            if isinstance(sales, dict) and sales.get("n_ordenes", 0) > sales.get("n_sopaipillas", 0):
                broken.append("n_ordenes<=n_sopaipillas")
                break
    return broken


def main():
    schema_dir = pathlib.Path(sys.argv[1])
    today, oldest = (day(a) for a in sys.argv[2:4])
    files = sorted(schema_dir.glob("*.json"))
    resources = []
    for path in files:
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    validators = {}
    for uri, res in resources:
        Validator.check_schema(res.contents)
        validators[uri.rsplit("/", 1)[-1]] = Validator(res.contents, registry=registry, format_checker=FormatChecker())
    openapi = None
    if len(sys.argv) > 4:
        # The document's relative references name the schema files: the
        # files are registered under their file URIs too.
        path = pathlib.Path(sys.argv[4]).resolve()
        openapi = path.as_uri()
        registry = registry.with_resources(
            [(p.resolve().as_uri(), r) for p, (_, r) in zip(files, resources)]
            + [(openapi, Resource.from_contents(yaml.safe_load(path.read_text()), default_specification=DRAFT202012))]
        )

    def validator(schema):
        if schema in validators:
            return validators[schema]
        if openapi is None or not schema.startswith("#/"):
            raise SystemExit(f"judge.py: no schema {schema!r}")
        ref = {"$ref": openapi + "#" + urllib.parse.quote(schema[1:], safe="/~")}
        validators[schema] = Validator(ref, registry=registry, format_checker=FormatChecker())
        return validators[schema]
    out = []
    for line in sys.stdin:
        case = json.loads(line)
        data = base64.b64decode(case["body"])
        verdict = {"id": case["id"], "valid": False, "why": "", "rules": []}
        try:
            if case["schema"] in ABSENT_OK and data.strip(JSON_WS) == b"":
                verdict.update(valid=True, why="no body")
            else:
                value = parse(data)
                errors = sorted(validator(case["schema"]).iter_errors(value), key=lambda e: list(e.path))
                if errors:
                    e = errors[0]
                    verdict["why"] = ("/".join(str(p) for p in e.path) + ": " + e.message)[:300]
                else:
                    verdict["valid"] = True
                    verdict["rules"] = rules(case["schema"], value, today, oldest)
        except Refused as e:
            verdict["why"] = str(e)
        out.append(json.dumps(verdict))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    # Bodies nest up to 20,000 levels: the parser recurses.
    sys.setrecursionlimit(200000)
    threading.stack_size(512 << 20)
    failed = []

    def run():
        try:
            main()
        except BaseException as e:  # reported below, with the exit status
            failed.append(e)
            raise

    t = threading.Thread(target=run)
    t.start()
    t.join()
    sys.exit(1 if failed else 0)
