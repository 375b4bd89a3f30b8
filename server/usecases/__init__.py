"""What each RPC does, one transaction each, over the store and the algorithms.

Handlers in `service.py` convert protos to the commands here and back; these
functions know nothing of gRPC. Every function takes `now` (epoch seconds) from
the caller, so time is injected and tests can move it.
"""
