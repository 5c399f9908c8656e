#!/bin/sh
# Imports moviedb's data views, visualizations and dashboard into Kibana (the compose service
# kibana-setup runs it once). Usage: import.sh [kibana-url]. Safe to run again: it overwrites.
set -eu
kibana="${1:-http://localhost:5601}"
here="$(dirname "$0")"
echo "importing $here/moviedb.ndjson into $kibana"
answer="$(curl -fsS -X POST "$kibana/api/saved_objects/_import?overwrite=true" \
  -H 'kbn-xsrf: moviedb' \
  --form "file=@$here/moviedb.ndjson")"
echo "$answer"
# Kibana answers 200 even when some objects fail; only `"success":true` means all went in.
echo "$answer" | grep -q '"success":true' || { echo "import failed" >&2; exit 1; }
echo "done: open $kibana/app/dashboards#/view/moviedb"
