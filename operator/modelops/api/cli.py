"""`modelops crds [--check] [--output PATH]`: write (or verify) the generated CRD file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crds",
        help="generate the ModelDeployment CRD from the pydantic models",
        description="Write crds/modelops.io_modeldeployments.yaml from modelops.api "
        "(or, with --check, fail if the file on disk is stale).",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="file to write/check (default: crds/modelops.io_modeldeployments.yaml "
        "under the current directory)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the file differs from what would be generated",
    )
    parser.add_argument(
        "--stdout", action="store_true", help="print the CRD instead of writing a file"
    )
    parser.set_defaults(handler=run_crds)


def run_crds(args: argparse.Namespace) -> int:
    from modelops.api.crd import CRD_PATH, SchemaError, render_crd

    try:
        text = render_crd()
    except SchemaError as error:
        print(f"modelops crds: {error}", file=sys.stderr)
        return 2
    if args.stdout:
        sys.stdout.write(text)
        return 0
    path: Path = args.output if args.output is not None else Path(CRD_PATH)
    if args.check:
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(
                f"modelops crds --check: {path} does not exist; run `modelops crds`",
                file=sys.stderr,
            )
            return 1
        if current != text:
            print(
                f"modelops crds --check: {path} is stale (the API models changed); "
                "run `modelops crds` and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{path} is up to date")
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"modelops crds: cannot write {path}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
