#!/usr/bin/env bash
# Idempotent host set-up for ftharness on Debian 12 (bookworm), run by `npm run demo`,
# `npm test` and .ci/run. Installs what is missing, starts libvirt without systemd, installs
# npm dependencies (checking the native libvirt binding really got built), compiles the
# TypeScript, builds the guest image (cached by content hash) and decides the accelerator
# (a canary boot under KVM where /dev/kvm opens; cached per host, see src/hosts/accel.ts).
#
# Fast when everything is already there (a few seconds). Needs root, or sudo for the system
# steps (see README "Running as a non-root user"). Set FTH_SKIP_IMAGE=1 to skip the image.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: run as root or install sudo"
  SUDO="sudo"
fi

# --- 1. Debian packages -----------------------------------------------------------------
# ceph-* / radosgw: the embedded S3 store (a real RADOS Gateway, see src/store/README.md).
# chromium: the report tests open generated HTML in a headless browser.
# crun: the OCI runtime podVM guests run their containers with (copied into the guest image).
# openssh-server: the tests' remote lab host (sshd in a network namespace they create); its
# service is never started by the install (policy-rc.d below). openipmi (ipmi_sim), ipmitool: the
# tests' BMC and its client (power cuts through IPMI over LAN, on loopback). tini: libvirtd's
# parent and child subreaper (section 2). e2fsprogs, pmdk-tools: ext4 and PMDK pools on PMEM
# (mkfs and pmempool go into the guest image; e2fsck, debugfs and pmempool check the standby's
# backing file on the host). dmsetup, thin-provisioning-tools: the guest's dm-era write tracker
# for PMEM HA's pre-copy (dmsetup and era_invalidate go into the guest image).
PKGS=(qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
      libvirt-dev qemu-guest-agent busybox-static kmod cpio linux-perf numactl ndctl curl
      iproute2 ceph-mon ceph-osd radosgw ceph-common chromium python3 make g++ crun
      openssh-server openssh-sftp-server openipmi ipmitool tini e2fsprogs pmdk-tools
      dmsetup thin-provisioning-tools)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  # No package may start a daemon on this machine (sshd would listen on port 22): deny service
  # starts for the install, as Debian's policy-rc.d mechanism allows.
  added_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod 755 /usr/sbin/policy-rc.d && added_policy=1
  fi
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

# --- 2. libvirtd + virtlogd without systemd --------------------------------------------
getent group kvm >/dev/null || $SUDO groupadd --system kvm
getent group libvirt >/dev/null || $SUDO groupadd --system libvirt
getent group libvirt-qemu >/dev/null || $SUDO groupadd --system libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || $SUDO useradd --system --no-create-home -g kvm -s /usr/sbin/nologin libvirt-qemu
$SUDO mkdir -p /var/log/libvirt/qemu /var/run/libvirt /var/lib/libvirt/qemu /var/lib/libvirt/images
QEMU_CONF=/etc/libvirt/qemu.conf
if ! grep -q 'ftharness' "$QEMU_CONF" 2>/dev/null; then
  say "writing $QEMU_CONF (qemu runs as root, no security driver: images live in arbitrary dirs)"
  $SUDO tee -a "$QEMU_CONF" >/dev/null <<'EOF'
# --- ftharness (harness/setup.sh) ---
user = "root"
group = "root"
security_driver = "none"
namespaces = []
EOF
fi
# No device cgroup: QEMU runs as root without a security driver anyway, and under cgroup v2
# libvirt attaches a BPF program per domain start for it, which failed once with EAGAIN when two
# domains started together (virCgroupV2DevicesAttachProg). Read when libvirtd starts.
if ! grep -q '^cgroup_controllers' "$QEMU_CONF" 2>/dev/null; then
  say "$QEMU_CONF: libvirt's cgroup controllers without devices"
  echo 'cgroup_controllers = [ "cpu", "cpuacct", "cpuset", "memory", "blkio" ]  # ftharness: no devices (BPF)' | $SUDO tee -a "$QEMU_CONF" >/dev/null
  if pgrep -x libvirtd >/dev/null; then
    say "note: restart libvirtd (no domain running) for it to take effect"
  fi
fi
# libvirt daemonizes each QEMU, so a stopped QEMU is reaped by the nearest subreaper, else by
# PID 1, and libvirt's domain destroy waits until it is. Without systemd, PID 1 here reaps late:
# every destroy (power cut, teardown) took 1.2-2.0 s, 0.2 s under tini -s (measured, this host).
# So libvirtd runs in the foreground under tini as a child subreaper.
if ! timeout 10 virsh -c qemu:///system version >/dev/null 2>&1; then
  say "starting virtlogd and libvirtd (under tini -s)"
  pgrep -x virtlogd >/dev/null || $SUDO virtlogd -d
  pgrep -x libvirtd >/dev/null ||
    $SUDO setsid tini -s -- libvirtd </dev/null >>/var/log/libvirt/libvirtd-ftharness.log 2>&1 &
  for _ in $(seq 1 50); do
    timeout 5 virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.2
  done
  timeout 10 virsh -c qemu:///system version >/dev/null 2>&1 || die "libvirtd did not answer on qemu:///system (see /var/log/libvirt)"
fi
lv=$(pgrep -xo libvirtd || true)
if [ -n "$lv" ] && [ "$(ps -o comm= -p "$(ps -o ppid= -p "$lv" | tr -d ' ')" 2>/dev/null)" != tini ] && [ -z "$(pidof systemd || true)" ]; then
  say "note: libvirtd (pid $lv) was not started under tini -s: each domain stop waits for PID 1 to reap QEMU (~1 s here); stop libvirtd while no domain runs and run set-up again"
fi

# --- 3. npm dependencies ------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >/dev/null
fi
# npm 11 may skip dependency install scripts: make sure the native binding was really built.
if [ ! -f node_modules/@unraid/libvirt/build/Release/libvirt.node ]; then
  say "building the native libvirt binding"
  (cd node_modules/@unraid/libvirt && npx --yes node-gyp rebuild >/dev/null)
fi
[ -f node_modules/@unraid/libvirt/build/Release/libvirt.node ] || die "native libvirt binding missing after build"
if [ -f src/pheap/native/build.sh ] && [ ! -f src/pheap/native/build/Release/pheap_native.node -o src/pheap/native/pheap_native.c -nt src/pheap/native/build/Release/pheap_native.node ]; then
  say "building the pheap native addon (real mmap path)"
  bash src/pheap/native/build.sh >/dev/null 2>&1 || say "pheap addon did not build: pheap falls back to the portable file path"
fi
# NUMA tenant workload and privileged helper (src/numa/native): two static C programs that guests
# run from the 9p mount (/opt/ftharness/src/numa/native/build/).
numa_native=src/numa/native
if [ -f $numa_native/build.sh ] && [ ! -x $numa_native/build/fth-numawl -o ! -x $numa_native/build/fth-numa \
    -o $numa_native/numawl.c -nt $numa_native/build/fth-numawl -o $numa_native/numactl-helper.c -nt $numa_native/build/fth-numa ]; then
  say "building the NUMA workload and helper (src/numa/native)"
  bash $numa_native/build.sh >/dev/null || say "WARNING: fth-numawl/fth-numa did not build (see above): NUMA scenarios are unavailable, the rest of the harness works"
fi
# TCG access-counter plugin (src/numa/tcg): fetches QEMU's plugin header from the source package
# (private apt config, cached in vm-images/cache/qemu-plugin/) and builds libfthnuma.so.
if [ ! -f src/numa/tcg/build/libfthnuma.so -o src/numa/tcg/counter.c -nt src/numa/tcg/build/libfthnuma.so ]; then
  say "building the TCG access-counter plugin (src/numa/tcg)"
  bash src/numa/tcg/build.sh || say "WARNING: the access-counter plugin did not build (see above): NUMA access counting is unavailable, the rest of the harness works"
fi

# --- 4. compile ---------------------------------------------------------------------------
say "compiling TypeScript"
# From clean: a source that was moved or removed must not leave its old output (or test) behind.
rm -rf dist
npx tsc -p tsconfig.json
# One bundled file per guest program (src/sut/guest.ts): guests start them without module lookups over 9p.
node dist/harness/build-guest.js

# --- 5. guest image ----------------------------------------------------------------------
if [ "${FTH_SKIP_IMAGE:-0}" != 1 ]; then
  node dist/harness/cli.js image build
  # --- 6. accelerator: KVM only if a canary guest boots under it (cached per host) ---------
  say "accelerator: $(node dist/harness/cli.js accel)"
fi
say "ready"
