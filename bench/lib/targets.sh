#!/usr/bin/env bash
# bench/lib/targets.sh FIGURES: issue 12's targets as a markdown table, the
# issue's "Measured today" beside this run's figures (FIGURES: the KEY=VALUE
# lines the benches wrote through fig; a missing one shows as n/a).
set -euo pipefail
declare -A F
while IFS='=' read -r k v; do [[ -n $k ]] && F[$k]=$v; done <"$1"
f() { echo "${F[$1]:-n/a}"; }
deliver_best=
for k in "${!F[@]}"; do
  if [[ $k == deliver_eps_w* ]] && { [[ -z $deliver_best ]] || ((${F[$k]} > deliver_best)); }; then
    deliver_best=${F[$k]}
  fi
done
deliver_ratio=n/a
if [[ -n ${F[nginx_rps]:-} && -n $deliver_best ]]; then
  deliver_ratio=$(awk -v a="$deliver_best" -v b="${F[nginx_rps]}" 'BEGIN { printf "%.3f", a / b }')
fi
half=n/a
if [[ -n ${F[ingest_shipped_journaled]:-} ]]; then
  half="$(f ingest_shipped_attempts) delivery attempts for $(f ingest_shipped_journaled) events, backlog $(f ingest_shipped_backlog) at the end"
fi
# Issue 13's figures from bench/cluster: "SQLite a; JetStream 1 / 2 / 3 nodes: b / c / d".
cluster_row() {
  local kind=$1 out="SQLite ${F[cluster_${1}_sqlite_1]:-n/a}; JetStream" ns="" vs="" n
  for n in 1 2 3 4 5 6 7 8 9; do
    [[ -n ${F[cluster_${kind}_nats_$n]:-} ]] || continue
    ns+="${ns:+ / }$n"
    vs+="${vs:+ / }${F[cluster_${kind}_nats_$n]}"
  done
  if [[ -n $ns ]]; then echo "$out $ns node(s): $vs"; else echo "$out: n/a"; fi
}
cat <<TARGETS
| target (issue 12) | measured today (issue 12) | this run |
|---|---|---|
| 1. ingestion alone ≥ 0.35 × nginx, p99 ≤ 10 ms | 0.056 × nginx, p99 26.9 ms | **$(f ingest_noreg_ratio) × nginx**, p99 $(f ingest_noreg_p99) ms ($(f ingest_noreg_eps) events/s; nginx $(f nginx_rps) req/s) |
| 2. ingestion, the sample app's registrations delivering, ≥ 0.25 × nginx; delivery keeps up with half of it | 0.046 × nginx | **$(f ingest_shipped_ratio) × nginx**, p99 $(f ingest_shipped_p99) ms; $half |
| 3. delivery, Lua consumer → Lua handler ≥ 12,000 events/s (≥ 0.12 × nginx) | 1,765–2,350 events/s | **${deliver_best:-n/a} events/s** ($deliver_ratio × nginx; the best worker setting) |
| 4. publish-to-handler-start at $(f latency_rate) events/s open loop: p50 ≤ 1 ms, p99 ≤ 5 ms | not measured under load (p99 5 ms with one event in flight) | **p50 $(f latency_p50) ms, p99 $(f latency_p99) ms** |
| 5. ≤ 2 KB on disk per sample-app event, all included | about 10.7 KB | **$(f store_bytes) B** |
| 6. flat at scale: ingestion ≥ 90 % of the empty store's, a claim and a page as on an empty store, RSS ≤ 128 MB | not measured | **$(f scale_ratio) ×** with $(f scale_events) events and $(f scale_pending) deliveries pending; claim $(f scale_claim) µs, page $(f scale_page) µs (empty / large); peak RSS $(f scale_rss) MiB |
| 7. idle RSS ≤ 16 MB; CPU per ingested event | 10.9 MB; about 250 µs | **$(f idle_rss) MiB**; $(f cpu_noreg) µs alone, $(f cpu_shipped) µs with delivery (evkit's CPU time / successful requests) |
| issue 13: ingestion and delivery on 1, 2, 3 evkit nodes over a 3-server JetStream cluster (R3), beside SQLite, in the same run | not measured | ingestion **$(cluster_row ingest)** events/s; delivery **$(cluster_row deliver)** events/s (all on this machine's cores: a cost, not a scale-out figure) |
TARGETS
