"""`python -m modelops.sim ...`: the simulator's fast entry point (used by the launcher, which
skips `modelops.cli` so that starting many simulators stays cheap)."""

from __future__ import annotations

import sys

from modelops.sim.knobs import ConfigError, parse_config


def main(argv: list[str]) -> int:
    try:
        config = parse_config(argv)
    except ConfigError as error:
        print(f"modelops sim: {error}", file=sys.stderr)
        return 2
    from modelops.sim.app import run

    return run(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
