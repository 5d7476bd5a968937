#!/bin/bash
# run.sh BIN NAME EXTRA-YAML ATTACK-ARGS... — start the s3ftpd binary BIN on
# 127.0.0.1 (control 47121, implicit FTPS 47990, passive 47200-47209, the
# embedded store, user demo with a bcrypt hash of "demo"), run one attack
# against it, stop it by PID. ATTACK-ARGS "checks" runs checks.py instead,
# "hash" runs hash.py.
# The figures in docs/security.md come from these runs. SRVNOFILE sets the
# server's descriptor limit. PORTOFF moves every port (control, implicit
# FTPS, passive) by that much, for a second run beside one on the default
# ports (hash.py follows it; the Go attacks and checks.py expect 0).
# Loopback only; every attack loop is bounded.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/s3ftpd-hostile}
bin=$1; name=$2; extra=$3; shift 3
off=${PORTOFF:-0}
mkdir -p "$work"
[ -x "$work/attack" ] || (cd "$here" && go build -o "$work/attack" .)
hash=$(echo -n demo | "$bin" hash-password)
dir=$work/run-$name; rm -rf "$dir"; mkdir -p "$dir"
cat > "$dir/cfg.yaml" <<CFG
listen: "127.0.0.1:$((47121 + off))"
passive:
  ports: "$((47200 + off))-$((47209 + off))"
store:
  embedded:
    dir: $dir/store
users:
  - name: demo
    password_hash: "$hash"
  - name: victim
    password: victim
tls:
  implicit_listen: "127.0.0.1:$((47990 + off))"
$extra
CFG
(ulimit -n "${SRVNOFILE:-20000}"; exec "$bin" --config "$dir/cfg.yaml" >"$dir/out.log" 2>&1) &
pid=$!
for _ in $(seq 100); do grep -q "ready on" "$dir/out.log" && break; sleep 0.1; done
if [ "${1:-}" = hash ]; then
  python3 "$here/hash.py" $((47121 + off))
elif [ "${1:-}" = checks ]; then
  s3port=$(grep -o "endpoint=http://127.0.0.1:[0-9]*" "$dir/out.log" | head -1 | grep -o "[0-9]*$")
  python3 "$here/checks.py" "$s3port"
else
  "$work/attack" -pid "$pid" "$@"
fi
kill -TERM "$pid"; for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
echo "log: $(grep -c 'level=WARN' "$dir/out.log") WARN lines ($dir/out.log)"
