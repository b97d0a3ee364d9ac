#!/usr/bin/env python3
"""Cut Slack's Web API OpenAPI document down to the methods shipgate calls.

The fake Slack in tests/common/fake_slack checks every Web API request against this
subset (required arguments, unknown arguments, argument types, accepted content types),
so the tests run on a fresh clone without the full (1.2 MB) document.

Usage, from the repository root:

    python3 scripts/slack_openapi_subset.py [path/to/web-api-openapi-v2.json]

The default source is ../shared/contracts/slack/web-api-openapi-v2.json; the output is
tests/contracts/slack/web-api-subset.json (LICENSE and SOURCE are written beside it).

The document is Swagger 2.0: arguments are `parameters` (`in: formData` or `query`, the
token `in: header`), and response schemas refer to `#/definitions/...`.
`apps.connections.open` (Socket Mode), `files.getUploadURLExternal` and
`files.completeUploadExternal` are not in the document (it predates them); the fake checks
them by hand against Slack's reference pages (tests/common/fake_slack/contract.rs).
"""

import json
import os
import sys

# (path, method) pairs kept; everything else in `paths` is dropped.
OPERATIONS = [
    ("/chat.postMessage", "post"),
    ("/chat.update", "post"),
    ("/chat.postEphemeral", "post"),
    ("/chat.getPermalink", "get"),
    ("/conversations.history", "get"),
    ("/conversations.replies", "get"),
    ("/views.open", "get"),
    ("/usergroups.users.list", "get"),
    ("/auth.test", "get"),
]

DEFAULT_SOURCE = os.path.join("..", "shared", "contracts", "slack", "web-api-openapi-v2.json")
OUT_DIR = os.path.join("tests", "contracts", "slack")
OUT_FILE = "web-api-subset.json"
COMMAND = "python3 scripts/slack_openapi_subset.py [path/to/web-api-openapi-v2.json]"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def refs_in(node):
    """Every local `$ref` string anywhere under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def definition_name(ref):
    """'#/definitions/objs_message' -> 'objs_message'."""
    prefix = "#/definitions/"
    if not ref.startswith(prefix) or "/" in ref[len(prefix):]:
        raise SystemExit(f"unsupported $ref {ref!r}: only #/definitions/<name> is handled")
    return ref[len(prefix):]


def subset(doc):
    paths = {}
    for path, method in OPERATIONS:
        item = doc["paths"].get(path)
        if item is None or method not in item:
            raise SystemExit(f"{method.upper()} {path} is not in the source document")
        kept = paths.setdefault(path, {})
        # Path-level keys (parameters, ...) apply to every operation kept.
        for key, value in item.items():
            if key not in HTTP_METHODS:
                kept[key] = value
        kept[method] = item[method]

    definitions = doc.get("definitions", {})
    wanted = set()
    pending = list(refs_in(paths))
    while pending:
        name = definition_name(pending.pop())
        if name in wanted:
            continue
        if name not in definitions:
            raise SystemExit(f"dangling $ref #/definitions/{name}")
        wanted.add(name)
        pending.extend(refs_in(definitions[name]))

    # Security schemes are named by operations' `security`, not by `$ref`.
    schemes = set()
    for item in paths.values():
        for key, op in item.items():
            if key in HTTP_METHODS:
                for requirement in op.get("security", []) or []:
                    schemes.update(requirement.keys())
    security = doc.get("securityDefinitions", {})
    missing = schemes - security.keys()
    if missing:
        raise SystemExit(f"security schemes {sorted(missing)} are not defined in the source document")

    out = {}
    for key in ("swagger", "info", "externalDocs", "host", "basePath", "schemes"):
        if key in doc:
            out[key] = doc[key]
    out["securityDefinitions"] = {name: security[name] for name in sorted(schemes)}
    out["paths"] = paths
    out["definitions"] = {name: definitions[name] for name in sorted(wanted)}
    return out


def main(argv):
    source = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    with open(source, encoding="utf-8") as f:
        doc = json.load(f)
    if str(doc.get("swagger", "")) != "2.0":
        raise SystemExit(f"{source}: expected a Swagger 2.0 document")
    out = subset(doc)

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, OUT_FILE), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")

    source_dir = os.path.dirname(os.path.abspath(source))
    with open(os.path.join(source_dir, "LICENSE"), encoding="utf-8") as f:
        license_text = f.read()
    with open(os.path.join(OUT_DIR, "LICENSE"), "w", encoding="utf-8") as f:
        f.write(license_text)
    with open(os.path.join(source_dir, "SOURCE"), encoding="utf-8") as f:
        origin = f.read().strip()
    with open(os.path.join(OUT_DIR, "SOURCE"), "w", encoding="utf-8") as f:
        f.write(
            f"{OUT_FILE} is a subset of Slack's Web API OpenAPI (Swagger 2.0) document (MIT, see LICENSE):\n"
            f"{origin}\n\n"
            "It keeps only the methods shipgate calls and the definitions they reference.\n"
            "apps.connections.open (Socket Mode), files.getUploadURLExternal and files.completeUploadExternal\n"
            "are not in the document (it predates them). The fake Slack checks them by hand against Slack's\n"
            "reference pages (docs.slack.dev/reference/methods/<name>, with api.slack.com's older copies), as\n"
            "written out in tests/common/fake_slack/contract.rs; the answers and errors it gives for them\n"
            "(uploads.rs, state.rs) say in comments which come from those pages and which are its own choice.\n"
            "Where the document disagrees with those pages or with Slack's answers (required arguments and\n"
            "response schemas of conversations.history and conversations.replies), contract.rs corrects it\n"
            "and says why.\n"
            f"Regenerate it from the repository root with:\n    {COMMAND}\n"
        )

    print(f"{len(OPERATIONS)} operations, {len(out['definitions'])} definitions -> {OUT_DIR}/{OUT_FILE}")


if __name__ == "__main__":
    main(sys.argv)
