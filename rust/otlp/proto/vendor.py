"""Regenerate the vendored OTLP message types in this folder.

They are the prost/tonic code that opentelemetry-rust's `opentelemetry-proto`
crate checks in (generated from opentelemetry-proto v1.x by prost-build and
tonic-build), copied without its serde/schemars attributes and gRPC clients:
the crate itself cannot be used without pulling in the OpenTelemetry SDK.

    python3 rust/otlp/proto/vendor.py ~/.cargo/registry/src/*/opentelemetry-proto-0.33.1
"""

import re
import sys
from pathlib import Path

FILES = [
    "opentelemetry.proto.common.v1.rs",
    "opentelemetry.proto.resource.v1.rs",
    "opentelemetry.proto.logs.v1.rs",
    "opentelemetry.proto.metrics.v1.rs",
    "opentelemetry.proto.trace.v1.rs",
    "opentelemetry.proto.collector.logs.v1.rs",
    "opentelemetry.proto.collector.metrics.v1.rs",
    "opentelemetry.proto.collector.trace.v1.rs",
]


def strip(text: str) -> str:
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("#[cfg_attr("):
            # An attribute for a feature we do not have: drop it whole.
            depth = 0
            while True:
                depth += lines[i].count("(") - lines[i].count(")")
                i += 1
                if depth <= 0:
                    break
            continue
        if line.strip() == '#[cfg(feature = "gen-tonic")]':
            if re.match(r"pub mod \w+_client \{", lines[i + 1]):
                i += 2
                while lines[i] != "}":
                    i += 1
            i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def main(crate: str) -> None:
    source = Path(crate) / "src" / "proto" / "tonic"
    here = Path(__file__).parent
    for name in FILES:
        (here / name).write_text(strip((source / name).read_text()))
    (here / "LICENSE").write_text((source.parent / "opentelemetry-proto" / "LICENSE").read_text())


if __name__ == "__main__":
    main(sys.argv[1])
