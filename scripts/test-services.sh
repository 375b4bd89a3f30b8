#!/usr/bin/env bash
# Installs the servers the test suite runs for real, from Debian's packages, when missing:
# PostgreSQL (the second store backend) and Prometheus (scrapes the server in tests).
# The tests start and stop their own instances on loopback ports; nothing runs as a service.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test-services: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 0
fi
echo "test-services: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts packaged services on install; the tests run their own instances instead.
for service in postgresql prometheus prometheus-node-exporter; do
  if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
