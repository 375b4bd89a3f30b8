#!/bin/sh
# Writes the production overlay's secret files (see README.md here) with random values:
# one database password in db.env and postgres.env, three tokens in tokens.yaml and
# client-tokens.env. Refuses to overwrite a file that exists. Needs only od and /dev/urandom.
set -eu
cd "$(dirname "$0")"
for file in db.env postgres.env tokens.yaml client-tokens.env; do
  if [ -e "$file" ]; then
    echo "generate.sh: $PWD/$file exists; remove it first to replace it" >&2
    exit 1
  fi
done
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
password=$(random_hex 24)
admin=$(random_hex 32)
worker=$(random_hex 32)
viewer=$(random_hex 32)
umask 077
printf 'url=postgresql://asktell:%s@asktell-postgres:5432/asktell\n' "$password" >db.env
printf 'POSTGRES_USER=asktell\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=asktell\n' "$password" >postgres.env
printf 'tokens:\n  %s: admin\n  %s: worker\n  %s: viewer\n' "$admin" "$worker" "$viewer" >tokens.yaml
printf 'admin=%s\nworker=%s\nviewer=%s\n' "$admin" "$worker" "$viewer" >client-tokens.env
echo "generate.sh: wrote db.env, postgres.env, tokens.yaml, client-tokens.env in $PWD"
