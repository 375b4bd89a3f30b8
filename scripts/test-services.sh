#!/usr/bin/env bash
# Installs what the test suite runs for real, from Debian's packages, when missing:
# PostgreSQL (the second store backend), Prometheus (scrapes the server in tests) and
# Node.js with npm (the Node client and buf, tests/node_tools.py), and Chromium with its
# chromedriver (tests/dashboard drive the dashboard in it, headless). The tests start and
# stop their own instances on loopback ports; nothing runs as a service. What is still
# missing afterwards skips its tests on a laptop and fails them in CI (tests/ci.py).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
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
