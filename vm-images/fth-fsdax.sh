#!/bin/sh
# fth-fsdax DEV UUID: turn the raw (label-less) namespace behind DEV into an fsdax one, so that ext4
# can be mounted with -o dax. It is what `ndctl create-namespace -f -e namespaceX.Y -m fsdax
# --map=mem` does, through sysfs: unbind the raw namespace, claim it with the region's pfn seed
# (struct pages in RAM, 2 MiB alignment, the given UUID), bind that. The kernel writes the info
# block at 4 KiB of the NVDIMM; two VMs given the same UUID and size get byte-identical ones, so
# a standby configured like its primary holds the same bytes at the same offsets.
# Idempotent: a namespace that is already fsdax is left as it is.
set -e
dev=$(readlink -f "$1"); uuid=$2
[ -b "$dev" ] && [ -n "$uuid" ] || { echo "usage: fth-fsdax /dev/pmemN UUID" >&2; exit 2; }
blk=$(basename "$dev")
node=$(readlink -f "/sys/block/$blk/device")
case $(basename "$node") in pfn*) echo "$blk: already fsdax ($(basename "$node"))"; exit 0;; namespace*) ;; *) echo "$blk: not on a namespace ($node)" >&2; exit 1;; esac
ns=$(basename "$node"); region=$(basename "$(dirname "$node")")
echo "$ns" > /sys/bus/nd/drivers/nd_pmem/unbind
pfn=$(cat "/sys/bus/nd/devices/$region/pfn_seed")
d=/sys/bus/nd/devices/$pfn
echo "$uuid" > "$d/uuid"
echo 2097152 > "$d/align"
echo ram > "$d/mode"
echo "$ns" > "$d/namespace"
echo "$pfn" > /sys/bus/nd/drivers/nd_pmem/bind
for i in $(seq 1 100); do [ -b "$dev" ] && [ "$(cat "/sys/block/$blk/queue/dax")" = 1 ] && break; sleep 0.05; done
[ "$(cat "/sys/block/$blk/queue/dax" 2>/dev/null)" = 1 ] || { echo "$blk: no DAX after binding $pfn" >&2; exit 1; }
echo "$blk: fsdax via $pfn, $(($(cat "/sys/block/$blk/size") / 2048)) MiB"
