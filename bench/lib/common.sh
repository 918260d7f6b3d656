# shellcheck shell=bash disable=SC2034
# Shared helpers of the bench scripts (sourced, not run). Every process a
# bench starts is recorded here and stopped by bench_cleanup, which the
# scripts run from `trap ... EXIT`; every temp dir is removed there too.
# Needs: bash, curl, jq, wrk.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
EVKIT=${EVKIT_BIN:-$REPO/build/evkit}
BENCH_LOG_LEVEL=${BENCH_LOG_LEVEL:-info}

_bench_pids=()
_bench_dirs=()

die() { echo "bench: FAIL: $*" >&2; exit 1; }
# fig KEY VALUE: one figure for bench/run.sh's summary of the targets
# (appended to $BENCH_FIGURES as KEY=VALUE when set).
fig() { if [[ -n ${BENCH_FIGURES:-} ]]; then echo "$1=$2" >>"$BENCH_FIGURES"; fi; }
note() { echo "bench: $*" >&2; }

bench_tmpdir() { # bench_tmpdir VAR: a fresh temp dir in $VAR that cleanup removes
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/evkit-bench.XXXXXX") || die "mktemp failed"
  _bench_dirs+=("$d")
  printf -v "$1" '%s' "$d"
}

# forget_pid PID: a process already stopped and reaped leaves the cleanup
# list, so that the exit trap never signals a later process that got the same
# pid (pids wrap around quickly on a busy machine).
forget_pid() {
  local keep=() p
  for p in "${_bench_pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  _bench_pids=("${keep[@]}")
}

# Runs from the exit trap with set -e still on: no command here may fail (a
# process that exits non-zero on SIGTERM made wait fail, which ended the
# trap and left the other processes running).
bench_cleanup() {
  local pid i
  for ((i = ${#_bench_pids[@]} - 1; i >= 0; i--)); do
    pid=${_bench_pids[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  _bench_pids=()
  for d in "${_bench_dirs[@]}"; do [[ -n $d && -d $d ]] && rm -rf "$d"; done
  _bench_dirs=()
}

# evkit_start APP DATA WORKERS LOGFILE: starts evkit serve on a free loopback
# port; sets EVKIT_PID and EVKIT_URL once serve.json names this pid and
# /healthz answers 200.
evkit_start() {
  local app=$1 data=$2 workers=$3 log=$4 sj url pid
  [[ -x $EVKIT ]] || die "$EVKIT not built (run make)"
  sj=$data/serve.json
  rm -f "$sj"
  env -u AIO_runtime_namespace EVKIT_LOG_LEVEL="$BENCH_LOG_LEVEL" \
    "$EVKIT" serve --app "$app" --data "$data" --listen 127.0.0.1:0 --workers "$workers" \
    </dev/null >/dev/null 2>"$log" &
  EVKIT_PID=$!
  _bench_pids+=("$EVKIT_PID")
  for _ in $(seq 1 300); do
    kill -0 "$EVKIT_PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "evkit exited at start"; }
    if [[ -s $sj ]]; then
      pid=$(jq -r '.pid // empty' "$sj" 2>/dev/null || true)
      url=$(jq -r '.url // empty' "$sj" 2>/dev/null || true)
      if [[ $pid == "$EVKIT_PID" && -n $url ]] &&
        curl -fsS -o /dev/null --max-time 2 "$url/healthz"; then
        EVKIT_URL=$url
        return 0
      fi
    fi
    sleep 0.05
  done
  tail -n 20 "$log" >&2
  die "evkit did not become healthy within 15 s"
}

# evkit_stop: SIGTERM, waits up to 20 s, checks a clean exit.
evkit_stop() {
  local pid=$EVKIT_PID rc=0
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    note "evkit (pid $pid) ignored SIGTERM for 20 s; killed"
  fi
  wait "$pid" 2>/dev/null || rc=$?
  forget_pid "$pid"
  EVKIT_PID=
  [[ $rc == 0 ]] || note "evkit exited with status $rc"
}

# evkit_cli APP DATA ARGS...: runs the CLI on the same app and journal.
evkit_cli() {
  local app=$1 data=$2
  shift 2
  env -u AIO_runtime_namespace EVKIT_LOG_LEVEL=warn "$EVKIT" "$@" --app "$app" --data "$data"
}

# evkit_count_events APP DATA SINCE: counts journaled events after position
# SINCE by paging through `evkit event list --json`; prints "COUNT LASTPOS".
evkit_count_events() {
  local app=$1 data=$2 since=$3 count=0 page n last
  while :; do
    page=$(evkit_cli "$app" "$data" event list --json --since "$since" --limit 100000) ||
      die "evkit event list failed"
    read -r n last <<<"$(jq -r '"\(length) \(if length > 0 then last.position else 0 end)"' <<<"$page")"
    count=$((count + n))
    ((n > 0)) && since=$last
    ((n < 100000)) && break
  done
  echo "$count $since"
}

# run_wrk OUTJSON WRK-ARGS...: runs wrk with bench/wrk/*.lua reporting
# through done() into OUTJSON; wrk's own text output goes to OUTJSON.txt.
run_wrk() {
  local out=$1
  shift
  WRK_OUT=$out timeout --signal=INT 120 wrk "$@" >"$out.txt" 2>&1 ||
    { cat "$out.txt" >&2; die "wrk $* failed"; }
  [[ -s $out ]] || { cat "$out.txt" >&2; die "wrk $* wrote no report"; }
}

# wrk_check OUTJSON WHAT: fails loudly on any non-2xx, bad body or socket error.
wrk_check() {
  local out=$1 what=$2 bad
  bad=$(jq -r '[.errors.status, .errors.connect, .errors.read, .errors.write, .errors.timeout, .bad] | add' "$out")
  if [[ $bad != 0 ]]; then
    cat "$out.txt" >&2
    jq -c . "$out" >&2
    die "$what: $(jq -r '"\(.errors.status) non-2xx, \(.bad) unexpected status/body (first: \(.first_bad)), socket errors connect \(.errors.connect) read \(.errors.read) write \(.errors.write) timeout \(.errors.timeout)"' "$out")"
  fi
}

# Formats microseconds as milliseconds with 2 decimals.
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
# rate REQUESTS DURATION_US
rate() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.0f", n / (d / 1e6) }'; }

# Device flushes completed so far on the block device holding DIR (field 18
# of /proc/diskstats, kernel >= 5.5), or "" when unknown.
disk_flushes() {
  local dev
  dev=$(df --output=source "$1" 2>/dev/null | tail -n1)
  dev=${dev#/dev/}
  [[ -n $dev ]] || return 0
  awk -v d="$dev" '$3 == d && NF >= 20 { print $19 }' /proc/diskstats
}

# fdatasync rate of the file system holding DIR: 4 KiB writes with O_DSYNC,
# one writer, for reference (what one fsync per event would allow).
dsync_rate() {
  local f out
  f=$(mktemp "$1/dsync.XXXXXX")
  out=$(dd if=/dev/zero of="$f" bs=4k count=1000 oflag=dsync 2>&1 | tail -n1)
  rm -f "$f"
  awk -v l="$out" 'BEGIN { n = split(l, a, ","); split(a[n-1], t, " "); printf "%.0f", 1000 / t[1] }'
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nginx_start TMPDIR: a static "200 ok" server on a free loopback port with
# a temp config (access log off, keep-alive unlimited), as the roadmap's
# reference for "what the machine can serve at all". Sets NGINX_URL, or
# leaves it empty when nginx is not installed (installs nginx-light first
# when running as root and BENCH_NGINX is not "off").
nginx_start() {
  local dir=$1/nginx port
  NGINX_URL=
  [[ ${BENCH_NGINX:-auto} == off ]] && return 0
  if ! command -v nginx >/dev/null && [[ -x /usr/sbin/nginx ]]; then PATH=$PATH:/usr/sbin; fi
  if ! command -v nginx >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
      note "installing nginx-light for the static baseline (service not started)"
      RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
        { note "nginx-light could not be installed; skipping the nginx baseline"; return 0; }
    else
      note "nginx not installed (apt-get install -y nginx-light); skipping the nginx baseline"
      return 0
    fi
  fi
  mkdir -p "$dir"
  port=$(free_port)
  cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF
  nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" </dev/null >/dev/null 2>&1 &
  NGINX_PID=$!
  _bench_pids+=("$NGINX_PID")
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      NGINX_URL=http://127.0.0.1:$port
      return 0
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$dir/error.log" >&2 || true
  note "nginx did not start; skipping the nginx baseline"
  nginx_stop
}

nginx_stop() {
  [[ -n ${NGINX_PID:-} ]] || return 0
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  forget_pid "$NGINX_PID"
  NGINX_PID=
}

# proc_cpu_ticks PID: user + system clock ticks used so far by PID (all threads).
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# machine_ticks: "BUSY TOTAL" clock ticks of all cores so far (/proc/stat).
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
