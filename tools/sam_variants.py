#!/usr/bin/env python3
"""Write infra/sam/template.yaml as CloudFormation sees it after `AWS::LanguageExtensions`.

Usage: ``python tools/sam_variants.py OUTDIR``

The template's optional JWT authorizer uses `!If` on `HasJwtAuthorizer` (a condition on the
`JwtIssuer` parameter only) where the SAM transform accepts no intrinsic functions (the
HttpApi's `Auth`, an event's `Auth`). On AWS, `AWS::LanguageExtensions` resolves those `!If`s
before SAM runs. This tool does the same for both values of the condition and writes
``OUTDIR/template-jwt-off.json`` and ``OUTDIR/template-jwt-on.json`` (SAM transform only), so
that the SAM translator can check each variant offline (``sam validate`` without ``--lint``;
tools/gates does). Standard library and PyYAML.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "sam" / "template.yaml"
CONDITION = "HasJwtAuthorizer"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_REMOVED = object()


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (`!Ref`, `!If`, …) as their long form."""


def _intrinsic(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, intrinsic functions in their long form."""
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    assert isinstance(loaded, dict)
    return loaded


def _resolve(node: Any, value: bool) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] == CONDITION:
            chosen = node["Fn::If"][1 if value else 2]
            if chosen == {"Ref": "AWS::NoValue"}:
                return _REMOVED
            return _resolve(chosen, value)
        resolved = {k: _resolve(v, value) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _REMOVED}
    if isinstance(node, list):
        return [item for item in (_resolve(i, value) for i in node) if item is not _REMOVED]
    return node


def variant(template: dict[str, Any], *, jwt: bool) -> dict[str, Any]:
    """`template` with `HasJwtAuthorizer` resolved to `jwt`, as LanguageExtensions leaves it."""
    resolved: dict[str, Any] = _resolve(template, jwt)
    transforms = resolved["Transform"]
    resolved["Transform"] = [t for t in transforms if t != LANGUAGE_EXTENSIONS]
    if jwt:
        # Values the deployment would pass; the SAM translator needs strings to work with.
        resolved["Parameters"]["JwtIssuer"]["Default"] = "https://issuer.example.com/"
        resolved["Parameters"]["JwtAudience"]["Default"] = "cqrs-es-api"
    return resolved


def main(argv: list[str]) -> int:
    """Write both variants to the directory `argv[0]`."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    template = load()
    for name, jwt in (("template-jwt-off.json", False), ("template-jwt-on.json", True)):
        (out / name).write_text(json.dumps(variant(template, jwt=jwt), indent=1), encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
