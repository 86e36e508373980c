"""The pod launcher (work in progress)."""

from __future__ import annotations


def main(kubeconfig: str) -> int:
    print("modelops sim launcher: not implemented yet")
    return 1
