#!/usr/bin/env bash
# Builds the two static NUMA programs into build/ (next to this script):
#   build/fth-numawl  the tenant workload (numawl.c)
#   build/fth-numa    the privileged helper, a JSON line protocol on stdin/stdout (numactl-helper.c)
# Static (glibc's libc.a, no libnuma), so they run in any guest that sees the project over 9p.
#   bash src/numa/native/build.sh               build both (always rebuilds)
#   bash src/numa/native/build.sh --check-loop  also list the memory operands of fth-numawl's hot loop
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cc="${CC:-cc}"
command -v "$cc" >/dev/null || { echo "numa native: no C compiler ($cc)" >&2; exit 1; }
mkdir -p "$here/build"
flags=(-O2 -static -Wall -Wextra -std=gnu11)
for prog in "fth-numawl:numawl.c" "fth-numa:numactl-helper.c"; do
  out="${prog%%:*}" src="${prog#*:}"
  # build to a temporary name, then rename: a guest (or a test) never sees a half-written binary
  "$cc" "${flags[@]}" -o "$here/build/.$out.tmp" "$here/$src" -lpthread -lm
  mv -f "$here/build/.$out.tmp" "$here/build/$out"
done
echo "numa native: built $here/build/fth-numawl and $here/build/fth-numa"

if [ "${1:-}" = --check-loop ]; then
  # The inner batch loop of worker() starts after "mov $0x400,<counter>" and the set-up's jmp, and is
  # left by the "je" after "sub $0x1,<counter>"; that jump's target (the ops publish) ends the range.
  # Out-of-line blocks GCC may place after the function's epilogue are not in the range. Print every
  # instruction in the range that addresses memory, other than RIP-relative constants, lea and nop.
  objdump -d --no-show-raw-insn "$here/build/fth-numawl" > "$here/build/.dis.s"
  awk '/<worker>:/{f=1;next} f&&/^$/{exit} f' "$here/build/.dis.s" > "$here/build/.worker.s"
  exit_at=$(awk '/sub +[$]0x1,%e|sub +[$]0x1,%r[0-9]+d/{s=1;next} s&&/\tje /{print $(NF-1); exit} {s=0}' "$here/build/.worker.s")
  # (GCC rotates the loop: the set-up ends with a jmp to the loop test; the body follows that jmp)
  awk -v stop="$exit_at:" '/mov +[$]0x400,/{on=1;next} on==1&&/\tjmp /{on=2;next} on==2&&$1==stop{exit} on==2{print}' "$here/build/.worker.s" > "$here/build/.loop.s"
  total=$(wc -l < "$here/build/.loop.s")
  echo "hot loop (worker, from the batch counter set-up to the loop exit at 0x$exit_at): $total instructions"
  echo "  stack slots (rsp/rbp-relative): $(grep -cE '\(%r[sb]p' "$here/build/.loop.s" || true)"
  grep -E '\(%r[sb]p' "$here/build/.loop.s" | sed 's/^/    /' || true
  echo "  RIP-relative loads (FP constants in .rodata): $(grep -c '(%rip)' "$here/build/.loop.s" || true)"
  echo "  other memory operands (the workload's own load/store):"
  grep -E '\(%r[a-z0-9]+[,)]' "$here/build/.loop.s" | grep -vE '\(%rip\)|\blea|\bnop|\(%r[sb]p' | sed 's/^/    /' || true
  echo "  calls: $(grep -c 'call' "$here/build/.loop.s" || true)"
  # The --zipf-int batch is a function of its own: every memory operand in it, whole.
  awk '/<run_int>:/{f=1;next} f&&/^$/{exit} f' "$here/build/.dis.s" > "$here/build/.int.s"
  echo "run_int (--zipf-int batch): $(wc -l < "$here/build/.int.s") instructions; memory operands (entry/exit: the PRNG state; in the loop: the working set's word only):"
  grep -E '\(%r[a-z0-9]+[,)]|\(%rip\)' "$here/build/.int.s" | grep -vE '\blea|\bnop' | sed 's/^/    /' || true
  rm -f "$here/build/.int.s"
  rm -f "$here/build/.loop.s" "$here/build/.dis.s" "$here/build/.worker.s"
fi
