"""Generated protobuf and gRPC stubs of the asktell.v1 contract (see scripts/gen_stubs.sh)."""
