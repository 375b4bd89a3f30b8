#!/usr/bin/env bash
# Type-checks server/, client/ and worker/ under the names they are installed as; arguments
# go to mypy. What it checks and how strictly is in pyproject.toml, [tool.mypy].
#
# setuptools maps server/ client/ worker/ proto/asktell/v1 into asktell.* (package-dir), but
# mypy finds modules by folder name. A tree of folder links, build/mypy-path/asktell/*, gives
# it the installed names; as it links folders, a new file is seen without a reinstall. The
# report names the real files.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/mypy-path/asktell
mkdir -p "$tree"
for package in server client worker dashboard; do
  ln -sfn "../../../$package" "$tree/$package"
done
ln -sfn ../../../proto/asktell/v1 "$tree/v1"
"${MYPY:-mypy}" "$@" | sed -e "s#$tree/v1/#proto/asktell/v1/#g" -e "s#$tree/##g"
