#!/bin/bash
# Stall reasons and tensor-pipe activity of our grouped GEMM kernel against torch's CUTLASS one
# (scripts/dev/grouped_mm_ncu.py's MoE problem). Run from the repository root on a GPU machine.
cd "$(dirname "$0")"
M=smsp__inst_executed.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum
for r in barrier membar wait math_pipe_throttle sleeping long_scoreboard mio_throttle lg_throttle short_scoreboard \
         dispatch_stall misc selected branch_resolving no_instruction; do
  M=$M,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio
done
for w in ours torch; do
  echo "== $w"
  if [ $w = ours ]; then K=regex:grouped_mm_kernel; else K=regex:device_kernel; fi
  timeout 200 ncu --clock-control none -k $K --launch-skip 1 --launch-count 1 --metrics $M \
    python grouped_mm_ncu.py $w 2>&1 | grep -E "smsp__|sm__|gpu__"
done
