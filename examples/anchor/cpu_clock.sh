#!/usr/bin/env bash
# Record the CPU seconds (user + system, the process and its children) that a training
# run has used, every 30 s, beside its checkpoints: EXP/cpu_clock.tsv holds
# "unix time<TAB>cpu seconds<TAB>latest checkpoint". Runs until PID exits.
# usage: examples/anchor/cpu_clock.sh PID EXP
pid=$1; exp=$2
while kill -0 "$pid" 2> /dev/null; do
  ticks=0
  for p in $pid $(pgrep -P "$pid") $(pgrep -P "$(pgrep -P "$pid" | tr '\n' ',' | sed 's/,$//')" 2>/dev/null); do
    [ -r "/proc/$p/stat" ] && ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
  done
  latest=$(ls -t "$exp"/checkpoint_*_*.pt 2> /dev/null | head -1)
  printf "%s\t%s\t%s\n" "$(date +%s)" "$((ticks / $(getconf CLK_TCK)))" "$(basename "${latest:-none}")" >> "$exp/cpu_clock.tsv"
  sleep 30
done
