#!/usr/bin/env bash
# Regenerates the Python stubs in proto/asktell/v1 from the .proto files.
# Output is deterministic and committed; tests/unit/test_stubs.py checks it is current.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -I proto \
  --python_out=proto --grpc_python_out=proto --pyi_out=proto \
  proto/asktell/v1/*.proto
