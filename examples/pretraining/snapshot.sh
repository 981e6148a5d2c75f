#!/usr/bin/env bash
# Keep a copy of every checkpoint_last.pt a training run writes, named by its update
# count (EXP/snapshots/checkpoint_upd<N>.pt), with the CPU seconds the run had used
# (EXP/snapshots/cpu_seconds.tsv): for runs whose interval checkpoints fall on epoch
# ends, which fairseq does not keep under --no-epoch-checkpoints. Runs until PID exits.
# usage: examples/pretraining/snapshot.sh PID EXP
pid=$1; exp=$2
mkdir -p "$exp/snapshots"
last=""
cpu_seconds() {
  local ticks=0 p
  for p in $pid $(pgrep -P "$pid"); do
    [ -r "/proc/$p/stat" ] && ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $((ticks / $(getconf CLK_TCK)))
}
while kill -0 "$pid" 2> /dev/null; do
  stamp=$(stat -c %Y "$exp/checkpoint_last.pt" 2> /dev/null || true)
  if [ -n "$stamp" ] && [ "$stamp" != "$last" ]; then
    sleep 5  # let the atomic rename finish
    n=$(python examples/pretraining/updates.py "$exp/checkpoint_last.pt" 2> /dev/null || true)
    if [ -n "$n" ] && [ ! -f "$exp/snapshots/checkpoint_upd$n.pt" ]; then
      cp "$exp/checkpoint_last.pt" "$exp/snapshots/checkpoint_upd$n.pt"
      printf "%s\t%s\t%s\n" "$n" "$(cpu_seconds)" "$(date +%s)" >> "$exp/snapshots/cpu_seconds.tsv"
    fi
    last=$stamp
  fi
  sleep 20
done
