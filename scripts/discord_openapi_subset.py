#!/usr/bin/env python3
"""Cut Discord's OpenAPI document down to the operations shipgate uses.

The fake Discord in tests/common/fake_discord validates every request body against
this subset, so the tests run on a fresh clone without the full (1 MB) document.

Usage, from the repository root:

    python3 scripts/discord_openapi_subset.py [path/to/openapi.json]

The default source is ../shared/contracts/discord/openapi.json; the output is
tests/contracts/discord/openapi-subset.json (LICENSE and SOURCE are copied beside it).
"""

import json
import os
import sys

# (path, method) pairs kept; everything else in `paths` is dropped.
OPERATIONS = [
    ("/channels/{channel_id}/messages", "post"),
    ("/channels/{channel_id}/messages/{message_id}", "patch"),
    ("/channels/{channel_id}/messages/{message_id}", "get"),
    ("/channels/{channel_id}/messages/{message_id}/threads", "post"),
    ("/channels/{channel_id}/threads", "post"),
    ("/applications/{application_id}/guilds/{guild_id}/commands", "put"),
    ("/applications/{application_id}/commands", "put"),
    ("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "patch"),
    ("/webhooks/{webhook_id}/{webhook_token}", "post"),
    ("/gateway", "get"),
    ("/gateway/bot", "get"),
    ("/users/@me", "get"),
]

DEFAULT_SOURCE = os.path.join("..", "shared", "contracts", "discord", "openapi.json")
OUT_DIR = os.path.join("tests", "contracts", "discord")
COMMAND = "python3 scripts/discord_openapi_subset.py [path/to/openapi.json]"


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


def split_ref(ref):
    """'#/components/schemas/Foo' -> ('schemas', 'Foo')."""
    prefix = "#/components/"
    if not ref.startswith(prefix):
        raise SystemExit(f"unsupported $ref {ref!r}: only #/components/... is handled")
    parts = ref[len(prefix):].split("/")
    if len(parts) != 2:
        raise SystemExit(f"unsupported $ref {ref!r}: expected #/components/<section>/<name>")
    return parts[0], parts[1]


def subset(doc):
    paths = {}
    for path, method in OPERATIONS:
        item = doc["paths"].get(path)
        if item is None or method not in item:
            raise SystemExit(f"{method.upper()} {path} is not in the source document")
        kept = paths.setdefault(path, {})
        # Path-level keys (parameters, summary, ...) apply to every operation kept.
        for key, value in item.items():
            if key not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                kept[key] = value
        kept[method] = item[method]
    # Keep the original method order within each path, so diffs against upstream read well.
    for path, kept in paths.items():
        original = doc["paths"][path]
        paths[path] = {key: kept[key] for key in original if key in kept}

    components = doc.get("components", {})
    wanted = {}  # section -> set of names
    pending = list(refs_in(paths))
    while pending:
        section, name = split_ref(pending.pop())
        names = wanted.setdefault(section, set())
        if name in names:
            continue
        if name not in components.get(section, {}):
            raise SystemExit(f"dangling $ref #/components/{section}/{name}")
        names.add(name)
        pending.extend(refs_in(components[section][name]))

    # Security schemes are named by operations' `security`, not by `$ref`.
    schemes = set()
    for item in paths.values():
        for key, op in item.items():
            if isinstance(op, dict):
                for requirement in op.get("security", []) or []:
                    schemes.update(requirement.keys())
    if schemes:
        wanted.setdefault("securitySchemes", set()).update(schemes)

    out_components = {}
    for section, entries in components.items():
        names = wanted.get(section)
        if names:
            out_components[section] = {name: value for name, value in entries.items() if name in names}

    out = {}
    for key in ("openapi", "info", "externalDocs", "servers"):
        if key in doc:
            out[key] = doc[key]
    out["paths"] = paths
    out["components"] = out_components
    return out


def main(argv):
    source = argv[1] if len(argv) > 1 else DEFAULT_SOURCE
    with open(source, encoding="utf-8") as f:
        doc = json.load(f)
    if not str(doc.get("openapi", "")).startswith("3.1"):
        raise SystemExit(f"{source}: expected an OpenAPI 3.1 document")
    if "license" not in doc.get("info", {}):
        raise SystemExit(f"{source}: info.license is missing")
    out = subset(doc)

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "openapi-subset.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
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
            "openapi-subset.json is a subset of Discord's OpenAPI document (MIT, see LICENSE):\n"
            f"{origin}\n\n"
            "It keeps only the operations shipgate calls and the components they reference.\n"
            f"Regenerate it from the repository root with:\n    {COMMAND}\n"
        )

    counts = ", ".join(f"{len(v)} {k}" for k, v in out["components"].items())
    print(f"{len(OPERATIONS)} operations, {counts} -> {OUT_DIR}/openapi-subset.json")


if __name__ == "__main__":
    main(sys.argv)
