// SPDX-License-Identifier: GPL-2.0-or-later
//
// libfthnuma: an exact guest-memory access counter as a QEMU TCG plugin (plugin API version 1,
// QEMU 7.2, system emulation). Every load and store a guest instruction makes is classified by
// vCPU, NUMA node of the guest-physical page, read/write and user/kernel, and counted in a file
// the host mmaps and reads live (src/numa/plugin/counters.ts mirrors the layout below exactly).
//
//   qemu-system-x86_64 … -plugin file=libfthnuma.so,out=C,map=M,series=S,interval_ms=200,vcpus=2,nodes=2,pages=131072
//
// Arguments: out=<path> counters file (created, truncated to its size, mmapped MAP_SHARED);
// map=<path> address-map file the harness writes once the guest runs; series=<path> time series
// (optional); interval_ms=<n> (default 200); vcpus=<n> (default: the machine's max vCPUs; less is
// refused); nodes=<n> (default 1); pages=<n> 4 KiB guest-physical pages with a per-page counter
// (default 0).
//
// ARMING. Boot pays nothing: the plugin starts with no translation callback at all, so TCG
// generates no instrumentation. A thread polls every 50 ms for the map file; once it exists and
// parses, arming is requested. Translated blocks made before that are uninstrumented, so the code
// cache must be flushed: qemu_plugin_reset() does that (tb_flush in an exclusive section), but in
// 7.2 (plugins/loader.c plugin_reset_uninstall) it only flushes through async_safe_run_on_cpu when
// current_cpu is set, i.e. on a vCPU thread. So a vCPU resume callback (a vCPU waking from idle,
// softmmu/cpus.c qemu_wait_io_event; its queued work is processed right after) calls it, exactly
// once. Once because of a 7.2.0 bug: plugin_reset_destroy() takes plugin.lock twice and never
// releases it, so the vCPU thread that ran the reset would hold that (recursive) lock for good and
// a second reset from another thread would deadlock. Upstream 7.2.18 fixed it (lock → unlock) and
// Debian's 1:7.2+dfsg-7+deb12u18 applies the v7.2.1 … v7.2.22 stable diffs, but one reset is all
// arming needs, so the plugin never depends on the fix. (Nothing else takes plugin.lock in system
// mode after start-up except callback registration, done by the reset-done callback on that thread.)
// The reset unregisters every callback; the reset-done callback registers the instrumenting
// translation callback (a memory callback on every instruction) and the atexit callback again.
// Needs MTTCG (x86 on x86 default): the round-robin TCG loop never calls the idle/resume hooks.
//
// CLASSIFICATION (per access, in the vCPU's thread): qemu_plugin_get_hwaddr; MMIO → io. For RAM,
// QEMU 7.2's qemu_plugin_hwaddr_phys_addr() returns block->offset + offset + block->mr->addr
// (plugins/api.c): a ram_addr plus the backend region's offset in its container — NOT the
// guest-physical address (true GPAs from QEMU 8.2 only). The map file translates it:
//
//   # comment
//   <valueStart> <valueEnd> <gpaStart> <node>      hex, hex (exclusive end), hex, decimal
//
// value in [valueStart, valueEnd) → gpa = gpaStart + (value − valueStart) on node; at most 16
// ranges (linear scan), no overlaps. No range → "unmapped". vaddr ≥ 0xffff800000000000 → kernel.
// The map is read once.
//
// COUNTERS FILE (little-endian; every field 8-byte aligned):
//   header, 128 bytes, u64 each unless said:
//     0  magic "FTHNUMA1" (8 bytes)         8  version = 1
//    16  vcpus                             24  nodes
//    32  pages                             40  armed (0/1; 1 once instrumentation is in place)
//    48  armed_at_ns (CLOCK_REALTIME)      56  ranges loaded from the map
//    64  state: 0 waiting for map, 1 map loaded (arming requested), 2 reset issued, 3 armed,
//        4 map file invalid (see map_error_line)
//    72  map_error_line (0 = none)          80  interval_ms
//    88  vcpu_stride (bytes per vCPU block) 96  vcpu_offset (= 128)
//   104  pages_offset                      112  exited (1 once the atexit callback ran)
//   120  series_lines written
//   vCPU blocks at vcpu_offset, vcpu_stride bytes each (a multiple of 64: no false sharing):
//     u64 counts[nodes][4]   {read user, write user, read kernel, write kernel}
//     u64 unmapped           RAM accesses whose value is in no map range
//     u64 io                 MMIO accesses
//     u64 beyond             USER accesses to a mapped GPA at or beyond pages*4096
//     u64 nohw               accesses whose TLB lookup failed (qemu_plugin_get_hwaddr NULL)
//     (zero padding)
//   u32 page_hits[pages] at pages_offset: USER accesses (reads + writes) per 4 KiB GPA page.
//
// Concurrency: under MTTCG each vCPU runs in its own thread and only that thread runs its memory
// callbacks (also in cpu_exec_step_atomic), so a vCPU block has a single writer: a relaxed
// load + store (no lock prefix) is exact, and aligned 8-byte stores are never torn for readers.
// page_hits are shared by all vCPUs: relaxed atomic add.
//
// SERIES (series=): once armed, one JSON line every interval_ms, fflushed, cumulative values:
//   {"t":<CLOCK_REALTIME ms>,"c":[[[rU,wU,rK,wK] per node] per vCPU],"u":[unmapped per vCPU]}
// The first line has "armed":true (t = arming time), the last (atexit) "final":true.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MAGIC "FTHNUMA1"
#define LAYOUT_VERSION 1
#define HEADER_BYTES 128
#define MAX_RANGES 16
#define KERNEL_BASE 0xffff800000000000ULL
#define POLL_MS 50

enum { H_MAGIC, H_VERSION, H_VCPUS, H_NODES, H_PAGES, H_ARMED, H_ARMED_AT_NS, H_RANGES, H_STATE,
       H_MAP_ERROR_LINE, H_INTERVAL_MS, H_VCPU_STRIDE, H_VCPU_OFFSET, H_PAGES_OFFSET, H_EXITED,
       H_SERIES_LINES };
enum { ST_WAITING, ST_LOADED, ST_RESETTING, ST_ARMED, ST_MAP_INVALID };
enum { K_RU, K_WU, K_RK, K_WK };

struct range { uint64_t vstart, vend, gpa; uint32_t node; };

static qemu_plugin_id_t self;
static char *out_path, *map_path, *series_path;
static uint64_t interval_ms = 200, n_vcpus, n_nodes = 1, n_pages;
static uint64_t vcpu_stride_u64; // u64 words per vCPU block
static size_t file_bytes;
static void *base;               // the mmapped counters file
static uint64_t *hdr;
static uint64_t *vcpu0;          // first vCPU block
static uint32_t *page_hits;
static struct range ranges[MAX_RANGES];
static unsigned n_ranges;
static int state = ST_WAITING;   // atomic
static int stop_thread;          // atomic
static pthread_t thread;
static bool thread_started;
static FILE *series;
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;
static bool final_written;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void hset(int field, uint64_t v) { __atomic_store_n(&hdr[field], v, __ATOMIC_RELEASE); }

static inline void bump(uint64_t *p) { __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED); }

static inline uint64_t *vblock(unsigned vcpu) { return vcpu0 + (uint64_t)vcpu * vcpu_stride_u64; }

// ---- memory callback (the hot path) ---------------------------------------------------------
static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    (void)udata;
    if (vcpu >= n_vcpus) return;
    uint64_t *b = vblock(vcpu);
    uint64_t *tail = b + n_nodes * 4; // unmapped, io, beyond, nohw
    struct qemu_plugin_hwaddr *hw = qemu_plugin_get_hwaddr(info, vaddr);
    if (!hw) { bump(&tail[3]); return; }
    if (qemu_plugin_hwaddr_is_io(hw)) { bump(&tail[1]); return; }
    uint64_t v = qemu_plugin_hwaddr_phys_addr(hw);
    bool user = vaddr < KERNEL_BASE;
    bool store = qemu_plugin_mem_is_store(info);
    for (unsigned i = 0; i < n_ranges; i++) {
        const struct range *r = &ranges[i];
        if (v - r->vstart < r->vend - r->vstart) {
            bump(&b[r->node * 4 + (user ? (store ? K_WU : K_RU) : (store ? K_WK : K_RK))]);
            if (user) {
                uint64_t page = (r->gpa + (v - r->vstart)) >> 12;
                if (page < n_pages) __atomic_fetch_add(&page_hits[page], 1, __ATOMIC_RELAXED);
                else bump(&tail[2]);
            }
            return;
        }
    }
    bump(&tail[0]);
}

static void tb_trans_armed(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), mem_cb, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
    }
}

// ---- series -----------------------------------------------------------------------------------
static void series_line(uint64_t t_ns, const char *extra)
{
    pthread_mutex_lock(&series_lock);
    if (series && !final_written) {
        fprintf(series, "{\"t\":%" PRIu64 ".%03" PRIu64 ",\"c\":[", (uint64_t)(t_ns / 1000000U), (uint64_t)((t_ns / 1000U) % 1000U));
        for (uint64_t v = 0; v < n_vcpus; v++) {
            uint64_t *b = vblock((unsigned)v);
            fputs(v ? ",[" : "[", series);
            for (uint64_t n = 0; n < n_nodes; n++) {
                fprintf(series, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", n ? "," : "",
                        __atomic_load_n(&b[n * 4 + 0], __ATOMIC_RELAXED), __atomic_load_n(&b[n * 4 + 1], __ATOMIC_RELAXED),
                        __atomic_load_n(&b[n * 4 + 2], __ATOMIC_RELAXED), __atomic_load_n(&b[n * 4 + 3], __ATOMIC_RELAXED));
            }
            fputc(']', series);
        }
        fputs("],\"u\":[", series);
        for (uint64_t v = 0; v < n_vcpus; v++) {
            fprintf(series, "%s%" PRIu64, v ? "," : "", __atomic_load_n(&vblock((unsigned)v)[n_nodes * 4], __ATOMIC_RELAXED));
        }
        fprintf(series, "]%s}\n", extra);
        fflush(series);
        hset(H_SERIES_LINES, hdr[H_SERIES_LINES] + 1);
    }
    pthread_mutex_unlock(&series_lock);
}

// ---- map file ---------------------------------------------------------------------------------
// Returns 0, or the 1-based number of the first bad line (or n+1 for a file-level problem).
static unsigned parse_map(const char *path, struct range *out, unsigned *count)
{
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char line[512];
    unsigned ln = 0, n = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) continue;
        char *e;
        errno = 0;
        uint64_t vs = strtoull(p, &e, 16);
        if (e == p) goto bad;
        p = e;
        uint64_t ve = strtoull(p, &e, 16);
        if (e == p) goto bad;
        p = e;
        uint64_t g = strtoull(p, &e, 16);
        if (e == p) goto bad;
        p = e;
        unsigned long node = strtoul(p, &e, 10);
        if (e == p || errno) goto bad;
        while (*e == ' ' || *e == '\t' || *e == '\r' || *e == '\n') e++;
        if (*e || ve <= vs || node >= n_nodes || n >= MAX_RANGES || g + (ve - vs) < g) goto bad;
        for (unsigned i = 0; i < n; i++) {
            if (vs < out[i].vend && out[i].vstart < ve) goto bad; // overlap
        }
        out[n++] = (struct range){ vs, ve, g, (uint32_t)node };
    }
    fclose(f);
    if (!n) return ln + 1;
    *count = n;
    return 0;
bad:
    fclose(f);
    return ln;
}

static void *poll_thread(void *arg)
{
    (void)arg;
    // A new map is a new inode (the harness renames it into place), a new size or a new mtime.
    struct timespec last_mtime = { 0, 0 };
    ino_t last_ino = 0;
    off_t last_size = -1;
    uint64_t next_series = 0;
    bool armed_line = false;
    while (!__atomic_load_n(&stop_thread, __ATOMIC_ACQUIRE)) {
        int st = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
        if ((st == ST_WAITING || st == ST_MAP_INVALID) && map_path) {
            struct stat sb;
            if (stat(map_path, &sb) == 0 && (sb.st_ino != last_ino || sb.st_size != last_size ||
                                             sb.st_mtim.tv_sec != last_mtime.tv_sec || sb.st_mtim.tv_nsec != last_mtime.tv_nsec)) {
                last_mtime = sb.st_mtim;
                last_ino = sb.st_ino;
                last_size = sb.st_size;
                struct range tmp[MAX_RANGES];
                unsigned n = 0, bad = parse_map(map_path, tmp, &n);
                if (bad) {
                    fprintf(stderr, "fthnuma: map file %s: bad line %u (want \"valueStart valueEnd gpaStart node\", hex hex hex decimal, at most %d ranges, no overlaps, node < %" PRIu64 ")\n", map_path, bad, MAX_RANGES, n_nodes);
                    hset(H_MAP_ERROR_LINE, bad);
                    hset(H_STATE, ST_MAP_INVALID);
                    __atomic_store_n(&state, ST_MAP_INVALID, __ATOMIC_RELEASE);
                } else {
                    memcpy(ranges, tmp, sizeof tmp);
                    n_ranges = n;
                    hset(H_RANGES, n);
                    hset(H_MAP_ERROR_LINE, 0);
                    hset(H_STATE, ST_LOADED);
                    // release: the ranges are visible to whoever sees ST_LOADED (the reset that
                    // follows runs in an exclusive section, a full barrier for every vCPU).
                    __atomic_store_n(&state, ST_LOADED, __ATOMIC_RELEASE);
                }
            }
        } else if (st == ST_ARMED && series) {
            uint64_t t = now_ns();
            if (!armed_line) {
                series_line(hdr[H_ARMED_AT_NS], ",\"armed\":true");
                armed_line = true;
                next_series = hdr[H_ARMED_AT_NS] + interval_ms * 1000000ULL;
            } else if (t >= next_series) {
                series_line(t, "");
                next_series += interval_ms * 1000000ULL;
                if (next_series <= t) next_series = t + interval_ms * 1000000ULL; // fell behind: no burst
            }
        }
        uint64_t sleep_ms = POLL_MS;
        if (st == ST_ARMED && series && interval_ms < sleep_ms) sleep_ms = interval_ms;
        struct timespec ts = { (time_t)(sleep_ms / 1000), (long)(sleep_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

// ---- arming -----------------------------------------------------------------------------------
static void at_exit(qemu_plugin_id_t id, void *p);

static void reset_done(qemu_plugin_id_t id)
{
    // Runs in an exclusive section (all vCPUs stopped) right after the code-cache flush.
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans_armed);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    hset(H_ARMED_AT_NS, now_ns());
    hset(H_ARMED, 1);
    hset(H_STATE, ST_ARMED);
    __atomic_store_n(&state, ST_ARMED, __ATOMIC_RELEASE);
}

static void vcpu_resume(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)vcpu;
    int expect = ST_LOADED;
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != ST_LOADED) return;
    if (!__atomic_compare_exchange_n(&state, &expect, ST_RESETTING, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    hset(H_STATE, ST_RESETTING);
    qemu_plugin_reset(id, reset_done); // exactly once (see ARMING above)
}

// ---- exit ---------------------------------------------------------------------------------------
static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id; (void)p;
    if (thread_started) {
        __atomic_store_n(&stop_thread, 1, __ATOMIC_RELEASE);
        pthread_join(thread, NULL);
        thread_started = false;
    }
    if (!base) return;
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == ST_ARMED) series_line(now_ns(), ",\"final\":true");
    pthread_mutex_lock(&series_lock);
    final_written = true;
    if (series) { fclose(series); series = NULL; }
    pthread_mutex_unlock(&series_lock);
    hset(H_EXITED, 1);
    msync(base, file_bytes, MS_SYNC);
    // Unmap the file, atomically replacing it with anonymous memory at the same address: vCPUs are
    // paused by now (qemu_cleanup → vm_shutdown), but a stray callback must never hit unmapped
    // pages. Fall back to a plain munmap if that fails.
    if (mmap(base, file_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        munmap(base, file_bytes);
    }
}

// ---- install ------------------------------------------------------------------------------------
static bool parse_u64(const char *s, uint64_t *out)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (!*s || *e || errno || s[0] == '-') return false;
    *out = v;
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    self = id;
    if (!info->system_emulation) {
        fprintf(stderr, "fthnuma: system emulation only\n");
        return -1;
    }
    uint64_t want_vcpus = 0;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "fthnuma: argument \"%s\" is not key=value\n", argv[i]); return -1; }
        size_t kl = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
        bool ok = true;
        if (kl == 3 && !strncmp(argv[i], "out", 3)) out_path = strdup(v);
        else if (kl == 3 && !strncmp(argv[i], "map", 3)) map_path = strdup(v);
        else if (kl == 6 && !strncmp(argv[i], "series", 6)) series_path = strdup(v);
        else if (kl == 11 && !strncmp(argv[i], "interval_ms", 11)) ok = parse_u64(v, &interval_ms) && interval_ms > 0;
        else if (kl == 5 && !strncmp(argv[i], "vcpus", 5)) ok = parse_u64(v, &want_vcpus) && want_vcpus > 0;
        else if (kl == 5 && !strncmp(argv[i], "nodes", 5)) ok = parse_u64(v, &n_nodes) && n_nodes > 0 && n_nodes <= 64;
        else if (kl == 5 && !strncmp(argv[i], "pages", 5)) ok = parse_u64(v, &n_pages) && n_pages <= (1ULL << 32);
        else { fprintf(stderr, "fthnuma: unknown argument \"%s\"\n", argv[i]); return -1; }
        if (!ok) { fprintf(stderr, "fthnuma: bad value in \"%s\"\n", argv[i]); return -1; }
    }
    if (!out_path) { fprintf(stderr, "fthnuma: out=<counters file> is required\n"); return -1; }
    uint64_t max_vcpus = info->system.max_vcpus > 0 ? (uint64_t)info->system.max_vcpus : 1;
    n_vcpus = want_vcpus ? want_vcpus : max_vcpus;
    if (n_vcpus < max_vcpus) {
        fprintf(stderr, "fthnuma: vcpus=%" PRIu64 " but the machine has up to %" PRIu64 " vCPUs\n", n_vcpus, max_vcpus);
        return -1;
    }
    vcpu_stride_u64 = (n_nodes * 4 + 4 + 7) / 8 * 8; // whole 64-byte lines
    uint64_t pages_off = HEADER_BYTES + n_vcpus * vcpu_stride_u64 * 8;
    file_bytes = (size_t)(pages_off + n_pages * 4);

    int fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { fprintf(stderr, "fthnuma: %s: %s\n", out_path, strerror(errno)); return -1; }
    if (ftruncate(fd, (off_t)file_bytes) != 0) { fprintf(stderr, "fthnuma: ftruncate %s: %s\n", out_path, strerror(errno)); close(fd); return -1; }
    base = mmap(NULL, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) { base = NULL; fprintf(stderr, "fthnuma: mmap %s: %s\n", out_path, strerror(errno)); return -1; }
    hdr = base;
    vcpu0 = (uint64_t *)((char *)base + HEADER_BYTES);
    page_hits = (uint32_t *)((char *)base + pages_off);
    hdr[H_VERSION] = LAYOUT_VERSION;
    hdr[H_VCPUS] = n_vcpus;
    hdr[H_NODES] = n_nodes;
    hdr[H_PAGES] = n_pages;
    hdr[H_INTERVAL_MS] = interval_ms;
    hdr[H_VCPU_STRIDE] = vcpu_stride_u64 * 8;
    hdr[H_VCPU_OFFSET] = HEADER_BYTES;
    hdr[H_PAGES_OFFSET] = pages_off;
    hdr[H_STATE] = ST_WAITING;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(&hdr[H_MAGIC], MAGIC, 8); // last: a reader that sees the magic sees a whole header

    if (series_path) {
        series = fopen(series_path, "a");
        if (!series) { fprintf(stderr, "fthnuma: %s: %s\n", series_path, strerror(errno)); return -1; }
    }
    // Unarmed: no translation callback, so no instrumentation; the resume hook arms.
    qemu_plugin_register_vcpu_resume_cb(id, vcpu_resume);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    if (pthread_create(&thread, NULL, poll_thread, NULL) != 0) { fprintf(stderr, "fthnuma: pthread_create failed\n"); return -1; }
    thread_started = true;
    return 0;
}
