#!/bin/busybox sh
# /init of the ftharness guest initramfs. Goal: "agent ready" as fast as possible under TCG,
# with no login and no console scraping. Everything it needs is in the initramfs; the big
# Node runtime comes from a read-only 9p share of the image (tag fthimage) mounted later.
#
# Kernel command line parameters read here:
#   fth.net=IFACE,ADDR/PREFIX[,GATEWAY];...   static addresses (no DHCP client needed)
#   fth.9p=TAG,MOUNTPOINT[,rw];...             9p shares to mount (read-only unless rw; rw
#                                              shares are uncached so a power cut loses nothing)
#   fth.hostname=NAME
# Readiness: qemu-ga starts as soon as its virtio port exists (its own start-up then overlaps
# the network and 9p set-up); /run/fth-ready is written last, and the harness calls a guest
# ready when the agent can open that file. Progress marks go to the kernel log (dmesg), with
# timestamps, not to the serial console (which costs time under TCG).
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/opt/fth/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/run /var/tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm

mark() { echo "fth-init: $*" > /dev/kmsg; }
param() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

# The guest agent starts early; "ready" is /run/fth-ready (below), not the agent answering.
# One qemu-ga per agent port: org.ftharness.qga.0 (the harness connects to its socket itself)
# and libvirt's org.qemu.guest_agent.0, whichever the domain has.
start_agent() {
  for i in $(seq 1 200); do
    n=0
    for p in /sys/class/virtio-ports/*; do
      [ -f "$p/name" ] || continue
      name=$(cat "$p/name")
      case "$name" in org.ftharness.qga.0|org.qemu.guest_agent.0) ;; *) continue;; esac
      mkdir -p "/run/qga-$name"
      qemu-ga -m virtio-serial -p "/dev/$(basename "$p")" -t "/run/qga-$name" -f "/run/qga-$name.pid" -r </dev/null &
      n=$((n+1))
    done
    [ "$n" -gt 0 ] && return 0
    sleep 0.05
  done
  echo "fth-init: no guest agent port" > /dev/console
}

# cgroup v2 for podVM containers (crun --cgroup-manager=cgroupfs, src/podvm/pod-runner.ts): the
# unified hierarchy, with the controllers pod and container cgroups use enabled below the root.
# One exec (mount) and a builtin write, 20-30 ms under TCG at this point of the boot (measured): a
# third job beside the module chains below, off the path to "ready" (the `wait` below covers it).
# crun needs nothing else here: it makes its state dir /run/crun itself.
(
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  echo '+cpu +cpuset +memory +pids' > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
    for c in cpu cpuset memory pids; do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
  mark cgroup2 up
) &

# Modules in dependency order, resolved on the host at build time (see src/image/build.ts).
# Two independent chains load side by side (each insmod costs 20-100 ms under TCG): the
# NVDIMM stack, and virtio + net + 9p, which starts the agent as soon as its port driver is in.
nv='/(nvdimm|nfit|dax)/'
grep -E "$nv" /etc/fth-modules | while read -r ko; do insmod "/lib/modules/$ko" 2>/dev/null; done &
grep -vE "$nv" /etc/fth-modules | while read -r ko; do
  insmod "/lib/modules/$ko" 2>/dev/null
  case "$ko" in */virtio_console.ko) start_agent; mark agent started;; esac
done
wait
mark modules loaded

hn=$(param fth.hostname); [ -n "$hn" ] && hostname "$hn"

# /dev/pmemN follows probe order, not the order of the NVDIMMs in the domain. Name them
# /dev/nvdimmK in guest-physical address order, which is libvirt's (= the VmSpec's) order.
nregions() { ls -d /sys/bus/nd/devices/region* 2>/dev/null | wc -l; }
nblocks() { ls -d /sys/bus/nd/devices/region*/namespace*/block/* 2>/dev/null | wc -l; }
for i in $(seq 1 40); do [ "$(nblocks)" -ge "$(nregions)" ] && break; sleep 0.05; done
k=0
for dev in $(for r in /sys/bus/nd/devices/region*; do
    b=$(ls "$r"/namespace*/block/ 2>/dev/null | head -1)
    [ -n "$b" ] && echo "$(printf %020d "$(cat "$r/resource")") $b"
  done | sort | cut -d' ' -f2); do
  ln -sf "/dev/$dev" "/dev/nvdimm$k"; k=$((k+1))
done
mark "nvdimms named ($k)"

ip link set lo up
for spec in $(param fth.net | tr ';' ' '); do
  IFS=, read -r ifc addr gw <<EOF
$spec
EOF
  ip link set "$ifc" up && ip addr add "$addr" dev "$ifc"
  [ -n "$gw" ] && ip route add default via "$gw"
done

for spec in $(param fth.9p | tr ';' ' '); do
  IFS=, read -r tag mnt mode <<EOF
$spec
EOF
  if [ "$mode" = rw ]; then opts=rw,cache=none; else opts=ro,cache=loose; fi
  mkdir -p "$mnt" && mount -t 9p -o trans=virtio,version=9p2000.L,$opts,msize=512000 "$tag" "$mnt"
done
mark "network and shares up"
: > /run/fth-ready
echo "fth-init: up $(cut -d' ' -f1 /proc/uptime)s" > /dev/console

# Keep PID 1 alive; reap orphans.
while true; do sleep 3600; done
