#!/usr/bin/env bash
# bench/run.sh (`make bench`): runs bench/ingest, bench/deliver, bench/filter, bench/node,
# bench/storesize, bench/latency, bench/scale and bench/cluster on build/evkit, prints issue 12's targets
# with this run's figure beside today's, and appends one dated section with every figure,
# the machine, the commit and the command to BENCHMARKS.md. Nothing is appended when a
# bench fails. Each bench stops its own processes and removes its temp dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
# shellcheck source=lib/common.sh
source bench/lib/common.sh
OUT=${BENCH_OUT:-$REPO/BENCHMARKS.md}
[[ -x build/evkit ]] || { echo "bench: build/evkit is missing; run make" >&2; exit 1; }
for tool in wrk jq curl node python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evkit-bench-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ -n ${MAKELEVEL:-} ]]; then command="make bench"; else command="bench/run.sh"; fi

# ---- what ran where ----
started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git --no-optional-locks status --porcelain 2>/dev/null) ]]; then commit+="-dirty"; fi
cores=$(nproc)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
kernel="$(uname -s) $(uname -r) $(uname -m)"
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)
fsdev=$(df --output=source "${TMPDIR:-/tmp}" | tail -n1)
fstype=$(df --output=fstype "${TMPDIR:-/tmp}" | tail -n1)
dev=${fsdev#/dev/}
rota=$(cat "/sys/block/$dev/queue/rotational" 2>/dev/null || echo "?")
disk="$fsdev ($fstype) holding ${TMPDIR:-/tmp}; rotational flag $rota"
case $dev in vd*) disk+="; a virtio disk of a VM (the host's medium is not visible)" ;; esac
# Other work on the machine skews every figure: wait (up to BENCH_QUIET_WAIT
# seconds) for 3 quiet seconds in a row (CPU under 20% busy), and say how
# busy it was.
cpu_busy() { # percent of all cores busy over the next second
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$(machine_ticks)"
  sleep 1
  read -r b1 t1 <<<"$(machine_ticks)"
  echo $(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
}
quiet=0 waited=0 busy=100
while ((waited < ${BENCH_QUIET_WAIT:-120})); do
  busy=$(cpu_busy)
  waited=$((waited + 1))
  if ((busy < 20)); then quiet=$((quiet + 1)); else quiet=0; fi
  ((quiet >= 3)) && break
  ((waited % 10 == 0)) && echo "bench: machine ${busy}% busy; waiting for it to settle ($waited s)" >&2
done
load="$(cut -d' ' -f1-3 /proc/loadavg); CPU ${busy}% busy in the last second before the start"
((quiet >= 3)) || load+=" (did not settle within ${BENCH_QUIET_WAIT:-120} s: other work was running)"
versions="evkit $(build/evkit --version 2>&1 | head -n1 | sed 's/^evkit //'); $(wrk --version 2>&1 | head -n1 | awk '{ print "wrk " $2 }'); node $(node --version); SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo ?); libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null || echo ?); $( (PATH=$PATH:/usr/sbin nats-server --version 2>/dev/null) || echo "nats-server ?"); $(${CC:-cc} --version | head -n1), CFLAGS ${CFLAGS:--O2 -g}"

echo "bench: $started, commit $commit, $cores cores, load $load" >&2
export BENCH_FIGURES=$tmp/figures
: >"$BENCH_FIGURES"
BENCH_REPORT=$tmp/ingest.md bench/ingest
BENCH_REPORT=$tmp/deliver.md bench/deliver
BENCH_REPORT=$tmp/filter.md bench/filter
BENCH_REPORT=$tmp/node.md bench/node
BENCH_REPORT=$tmp/storesize.md bench/storesize
BENCH_REPORT=$tmp/latency.md bench/latency
BENCH_REPORT=$tmp/scale.md bench/scale
BENCH_REPORT=$tmp/cluster.md bench/cluster
finished=$(date -u '+%H:%M UTC')

bench/lib/targets.sh "$BENCH_FIGURES" >"$tmp/targets.md"
echo >&2
echo "bench: issue 12's targets, this run beside today's:" >&2
cat "$tmp/targets.md" >&2

if [[ ! -s $OUT ]]; then
  cat >"$OUT" <<'EOF'
# Benchmarks

Every figure below was produced by `make bench` (which builds `build/evkit` and runs
`bench/run.sh`); each run appends one dated section and nothing here is edited by hand.
Load generator and server run on the same machine over loopback, so they share its
cores: the figures are for the whole machine, not for evkit alone.

**Ingestion** (`bench/ingest`): evkit serves the sample app (`app/`) with a fresh journal.
wrk (`-t2 -c64 -d10s --latency`, after a 3 s warm-up) POSTs the seed's example to the
ingestion webhook with a unique `data.uid` per request, so every request is a new event
that must be durable (SQLite WAL, `synchronous=FULL`) before the 200; every answer is
checked (status 200 and the documented body) and the run fails on any other.
- *durable events/s*: successful webhook requests per second; the journal is then
  counted (`evkit event list`) and must hold that many new events (plus at most one per
  connection for requests cut off when wrk stops).
- *p99*: the webhook's 99th percentile latency under that load, as wrk measures it.
- *ratio to nginx / to /healthz*: durable events/s divided by the requests/s of a static
  200 served with the same wrk settings in the same run, by nginx (`return 200`, access
  log off, 2 workers) and by evkit's own `GET /healthz` (same HTTP stack, no action).
- *O_DSYNC writes/s*: 4 KiB `dd oflag=dsync` writes per second on the journal's file
  system, one writer: the ceiling if every event paid its own fsync. Durable events/s
  above it means concurrent publishes share commits (group commit).
- *device flushes*: flush requests the journal's block device completed during the
  measured run (`/proc/diskstats`, whole disk, so other activity counts too).
- The sample app's registrations also deliver the events to its consumers during the
  run, on the same cores.

**Delivery** (`bench/deliver`, app in `bench/apps/deliver/`): N events are published
through a Lua web action (`evkit.publish`), a registration delivers each one to a Lua
consumer that `evkit.invoke`s a trivial Lua handler.
- *events/s, first publish to last handler completion*: N divided by the time from the
  first publish request to the end of the newest handler activation, once the backlog is
  0, nothing failed and there is one handler activation per event.
- *publish-to-handler latency*: 500 events published one at a time; for each, the end of
  its handler activation minus the moment its publish request was sent.
- *per-activation overhead*: the same trivial echo as a web action in each runtime
  (`lua`: embedded interpreter; `actionloop`: a long-lived python3 process per slot, one
  JSON line per activation; `exec`: one `/bin/sh` process per activation), wrk GET at 8
  and at 1 connection(s); overhead is the latency minus that of `GET /healthz` on the same
  server (the HTTP path without any action). At 1 connection there is no queueing, so
  that difference is the cost of one activation (params, invocation, result mapping,
  activation record).
EOF
fi

{
  echo
  echo "## $started — commit \`$commit\`"
  echo
  echo "- Command: \`$command\` (from $started to $finished)"
  echo "- Machine: $cores cores ($cpu), $mem RAM, $kernel, $os; load average at start $load"
  echo "- Disk: $disk"
  echo "- Versions: $versions"
  echo "- The machine has $cores cores: wrk (or the node publisher) and evkit share them, so each figure is the whole machine's, with the load generator taking its part."
  echo
  echo "### Issue 12's targets, this run beside \"Measured today\""
  echo
  cat "$tmp/targets.md"
  echo
  echo "### Ingestion (\`bench/ingest\`)"
  echo
  echo "\`wrk -t2 -c64 -d10s --latency -s bench/wrk/ingest.lua\` POST \`/api/v1/web/evkit/ingestion/webhook\`, fresh journal, \`--workers 4\`:"
  echo
  cat "$tmp/ingest.md"
  echo
  echo "### Delivery (\`bench/deliver\`)"
  echo
  cat "$tmp/deliver.md"
  echo
  echo "### Filters (\`bench/filter\`)"
  echo
  cat "$tmp/filter.md"
  echo
  echo "### Node.js beside Lua (\`bench/node\`)"
  echo
  cat "$tmp/node.md"
  echo
  echo "### Bytes on disk per sample-app event, idle RSS (\`bench/storesize\`)"
  echo
  cat "$tmp/storesize.md"
  echo
  echo "### Publish-to-handler latency under open-loop load (\`bench/latency\`)"
  echo
  cat "$tmp/latency.md"
  echo
  echo "### Flat at scale (\`bench/scale\`)"
  echo
  cat "$tmp/scale.md"
  echo
  echo "### 1, 2 and 3 evkit nodes on a 3-server JetStream cluster beside SQLite (\`bench/cluster\`)"
  echo
  cat "$tmp/cluster.md"
} >>"$OUT"
echo "bench: appended to $OUT" >&2
