"""The asktell gRPC server: RPC handlers, algorithms, storage and metrics."""
