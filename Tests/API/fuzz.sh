#!/usr/bin/env bash
# make test-api: validates docs/openapi.json (openapi-spec-validator), then fuzzes a real
# `serve` in local mode with it (schemathesis), bounded in time and examples. Passes only
# when no response is a 5xx and every response matches the document (status code, content
# type, schema). Both tools come from PyPI into a venv under .build/.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.build/venv-api
bin=.build/${CONFIG:-debug}
max_time=${API_FUZZ_MAX_TIME:-90}
max_examples=${API_FUZZ_MAX_EXAMPLES:-30}

if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis openapi-spec-validator
fi

"$venv/bin/openapi-spec-validator" docs/openapi.json

work=$(mktemp -d)
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port: local mode needs a fixed one (its egress policy names it).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/coven-supervisor" serve --listen "127.0.0.1:$port" --state-dir "$work/state" >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/state/api-token" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { echo "test-api: serve did not start:"; cat "$work/serve.log"; exit 1; }
  sleep 0.1
done

status=0
(cd "$work" && "$OLDPWD/$venv/bin/schemathesis" run "$OLDPWD/docs/openapi.json" --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $(cat "$work/state/api-token")" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$max_examples" --max-time "$max_time" --workers 1 --warnings off) || status=$?

if ! kill -0 "$serve_pid" 2>/dev/null; then
  echo "test-api: serve died during the run:"; tail -20 "$work/serve.log"; status=1
fi
echo "test-api: schemathesis exit status $status"
exit "$status"
