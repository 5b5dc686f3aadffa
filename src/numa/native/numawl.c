// fth-numawl: the tenant workload of the NUMA scenarios (research/numa.md section 2.1).
//
// W MiB of anonymous memory in separate VMAs of P pages each (4 KiB unmapped gap between chunks, so
// they never merge; THP off), first-touched under MPOL_BIND to one node, then left under
// MPOL_DEFAULT so the kernel and external movers may migrate it. T threads read or read-modify-write
// one 8-byte word per operation. The page of an operation comes from a table-free access model:
//
//   page(rank) = (a*rank + b) mod N      a coprime with N; a, b from the seed
//   hot ranks  = 0 .. H-1, H = ceil(F*N)  (rank 0 is the hottest)
//   an op picks a hot rank with probability S (Zipf(s) over the H hot ranks, rejection-inversion
//   sampling of Hörmann & Derflinger 1996; or with --zipf-int an integer-only Zipf(1) by log-uniform
//   rank buckets, so that the loop loads no FP constants: see ZL), else a uniform cold rank; then it reads, or with
//   probability r read-modify-writes, one 8-byte word of the page (the word index also comes from
//   the seeded per-thread random stream).
//   A phase "t:hotshift=K" sets b += K*a (mod N) t ms after the start (just before the ready line):
//   page(rank) becomes page(rank+K), i.e. the hot set moves by K ranks.
//
// Ground truth is therefore a function of (seed, N, F, phase): `--hot-pages` prints it and exits.
// Reports (stdout, one JSON object per line): a ready line, then {"t":<realtime ms>,"ops":<cumulative>,
// "phase":k} every R ms, k being the phase that every worker thread has switched to, and a last line
// with "final":true on SIGTERM/SIGINT or after D seconds. Affinity is left to others
// (sched_setaffinity on the TIDs of the ready line); the workload does not pin itself.
//
// The hot loop keeps its state in registers: the splitmix64 state (one word), the permutation, the
// layout, the thresholds, the Zipf constants. exp/log are inline arithmetic (below), not libm calls:
// a call would force every SSE register (all are caller-saved on x86-64 SysV) to the stack around
// it. Op counts and the phase's b are exchanged with the main thread once per batch of BATCH ops.
// `bash build.sh --check-loop` lists the memory operands of the compiled loop.
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif
// <linux/mempolicy.h> values, defined here so the build needs no kernel headers at all.
#define FTH_MPOL_DEFAULT 0
#define FTH_MPOL_BIND 2

#define PAGE 4096ULL
#define DEFAULT_BASE 0x100000000000ULL
#define BATCH 1024
#define MAX_THREADS 1024
#define MAX_PHASES 256
#define MASK_LONGS 16 /* 1024 nodes */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fth-numawl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

// ---------------------------------------------------------------- PRNG
static inline uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// The same, for the hot loop: the three 64-bit constants are materialised (movabs) at each use
// instead of being hoisted into three registers for the whole loop, which would push loop state to
// the stack (x86-64 only: one movabs each).
#define IMM64(v) ({ uint64_t c_; __asm__ volatile("movabs %1, %0" : "=r"(c_) : "i"(v)); c_; })
static inline __attribute__((always_inline)) uint64_t splitmix64_loop(uint64_t *x) {
  uint64_t z = (*x += IMM64(0x9e3779b97f4a7c15ULL));
  z = (z ^ (z >> 30)) * IMM64(0xbf58476d1ce4e5b9ULL);
  z = (z ^ (z >> 27)) * IMM64(0x94d049bb133111ebULL);
  return z ^ (z >> 31);
}
// ---------------------------------------------------------------- inline exp/log (double, ~1 ulp)
#define AI static inline __attribute__((always_inline))
AI double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
AI uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;

AI double fth_log(double x) {
  if (!(x > 0)) return x == 0 ? -INFINITY : NAN;
  if (x == INFINITY) return x;
  uint64_t b = d2u(x);
  int64_t e = (int64_t)((b >> 52) & 0x7ff) - 1023;  // arguments here are never subnormal
  double m = u2d((b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);  // [1, 2)
  if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
  double f = (m - 1.0) / (m + 1.0), f2 = f * f;  // |f| <= 0.1716
  double p = 1.0 / 19;
  p = p * f2 + 1.0 / 17; p = p * f2 + 1.0 / 15; p = p * f2 + 1.0 / 13; p = p * f2 + 1.0 / 11;
  p = p * f2 + 1.0 / 9;  p = p * f2 + 1.0 / 7;  p = p * f2 + 1.0 / 5;  p = p * f2 + 1.0 / 3;
  double de = (double)e;
  return de * LN2_HI + (2.0 * f + (2.0 * f * f2 * p + de * LN2_LO));
}
AI double fth_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return INFINITY;
  if (x < -708.0) return 0.0;
  double kd = x * 1.44269504088896338700;
  int64_t k = (int64_t)(kd + (kd >= 0 ? 0.5 : -0.5));
  double r = (x - (double)k * LN2_HI) - (double)k * LN2_LO;  // |r| <= 0.35
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0; p = p * r + 1.0 / 39916800.0; p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;    p = p * r + 1.0 / 40320.0;    p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;       p = p * r + 1.0 / 120.0;      p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;         p = p * r + 0.5;              p = p * r + 1.0;
  p = p * r + 1.0;
  return p * u2d((uint64_t)(k + 1023) << 52);
}

// ---------------------------------------------------------------- Zipf, rejection-inversion
// Hörmann & Derflinger, "Rejection-inversion to generate variates from monotone discrete
// distributions", ACM TOMACS 6(3), 1996; same formulation as Apache Commons RNG's
// RejectionInversionZipfSampler. P(k) ∝ k^-s, k = 1..n, s >= 0.
// helper1(t) = log1p(t)/t and helper2(t) = expm1(t)/t, with the Goldberg and Kahan forms folded in:
// log1p(t)/t = log(u)/(u-1) for u = 1+t != 1, and expm1(t)/t = (e^t-1)/log(e^t) for e^t != 1.
AI double zh1(double t) {
  const double u = 1.0 + t;
  return u == 1.0 ? 1.0 - t * 0.5 : fth_log(u) / (u - 1.0);
}
AI double zh2(double t) {
  const double u = fth_exp(t);
  if (u == 1.0) return 1.0 + t * 0.5;
  const double um1 = u - 1.0;
  return um1 == -1.0 ? -1.0 / t : um1 / fth_log(u);
}
AI double zh(double x, double s) { return fth_exp(-s * fth_log(x)); }
AI double zH(double x, double s) { double lx = fth_log(x); return zh2((1.0 - s) * lx) * lx; }
AI double zHinv(double x, double s) {
  double t = x * (1.0 - s);
  if (t < -1.0) t = -1.0;
  return fth_exp(zh1(t) * x);
}
struct zipf { double s, hx1, hn, thr; };
static struct zipf zipf_init(uint64_t n, double s) {
  struct zipf z;
  z.s = s;
  z.hx1 = zH(1.5, s) - 1.0;
  z.hn = zH((double)n + 0.5, s);
  z.thr = 2.0 - zHinv(zH(2.5, s) - zh(2.0, s), s);
  return z;
}

// ---------------------------------------------------------------- parameters and layout
struct phase { int64_t t_ms; int64_t shift; };
static struct {
  double wss_mib, hot_fraction, hot_share, zipf_s, write_ratio, duration_s;
  uint64_t chunk_pages, seed, base;
  int node, threads, report_ms, hot_pages_mode, carve;
  struct phase phases[MAX_PHASES];
  int nphases;
  int zipf_int;  // last: the initializer below is positional
} P = {64, 0.1, 0.9, 0.99, 0.5, 0, 512, 1, DEFAULT_BASE, 0, 1, 1000, 0, 0, {{0, 0}}, 0, 0};

static uint64_t N, H, A, B0, NCHUNKS;
static char *BASE;
static const char *MAPMODE = "fixed-noreplace";

static uint64_t gcd(uint64_t x, uint64_t y) { while (y) { uint64_t t = x % y; x = y; y = t; } return x; }
static uint64_t mod_shift(uint64_t b, int64_t k) {  // b + k*a mod N
  uint64_t km = (uint64_t)(((__int128)k % (__int128)N + N) % N);
  return (uint64_t)(((unsigned __int128)km * A + b) % N);
}
static void derive(void) {
  N = (uint64_t)llround(P.wss_mib * 256.0);
  if (N < 1) die("--wss-mib %g is less than one page", P.wss_mib);
  if (N >= (1ULL << 32)) die("--wss-mib %g: at most 2^32-1 pages", P.wss_mib);
  H = P.hot_fraction <= 0 ? 0 : (uint64_t)ceil(P.hot_fraction * (double)N - 1e-9);
  if (P.hot_fraction > 0 && H < 1) H = 1;
  if (H > N) H = N;
  NCHUNKS = (N + P.chunk_pages - 1) / P.chunk_pages;
  uint64_t sm = P.seed ^ 0x6674682d6e756d61ULL;  // "fth-numa"
  A = 1;
  if (N > 2) {
    for (int i = 0; i < 10000; i++) {
      uint64_t c = 1 + splitmix64(&sm) % (N - 1);
      if (gcd(c, N) == 1) { A = c; break; }
    }
  }
  B0 = splitmix64(&sm) % N;
}
static int cmp_phase(const void *x, const void *y) {
  const struct phase *p = x, *q = y;
  return p->t_ms < q->t_ms ? -1 : p->t_ms > q->t_ms;
}

static double num_arg(const char *name, const char *v, double lo, double hi) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !(d >= lo && d <= hi)) die("%s: expected a number in [%g, %g], got '%s'", name, lo, hi, v);
  return d;
}
static uint64_t uint_arg(const char *name, const char *v, uint64_t lo, uint64_t hi) {
  char *end;
  errno = 0;
  if (*v == '-' || *v == 0) die("%s: expected an integer, got '%s'", name, v);
  unsigned long long x = strtoull(v, &end, 0);
  if (errno || *end || x < lo || x > hi) die("%s: expected an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'", name, lo, hi, v);
  return x;
}
static void parse_phase(const char *v) {
  if (P.nphases >= MAX_PHASES) die("too many --phase");
  char *end;
  errno = 0;
  long long t = strtoll(v, &end, 10);
  if (errno || end == v || t < 0 || strncmp(end, ":hotshift=", 10) != 0) die("--phase: expected <ms>:hotshift=<K>, got '%s'", v);
  const char *k = end + 10;
  long long sh = strtoll(k, &end, 10);
  if (errno || end == k || *end) die("--phase: expected <ms>:hotshift=<K>, got '%s'", v);
  P.phases[P.nphases++] = (struct phase){t, sh};
}
static void usage(void) {
  fputs("usage: fth-numawl [--hot-pages] --wss-mib W --chunk-pages P --hot-fraction F --hot-share S --zipf s | --zipf-int\n"
        "       --write-ratio r --seed N --node M --threads T --report-ms R [--duration-s D]\n"
        "       [--phase <ms>:hotshift=<K> ...] [--base 0xADDR] [--map carve]\n", stderr);
  exit(2);
}
static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--hot-pages")) { P.hot_pages_mode = 1; continue; }
    if (!strcmp(o, "--zipf-int")) { P.zipf_int = 1; continue; }
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) usage();
    if (i + 1 >= argc) die("%s needs a value", o);
    const char *v = argv[++i];
    if (!strcmp(o, "--wss-mib")) P.wss_mib = num_arg(o, v, 1.0 / 256, 1 << 24);
    else if (!strcmp(o, "--chunk-pages")) P.chunk_pages = uint_arg(o, v, 1, 1ULL << 32);
    else if (!strcmp(o, "--hot-fraction")) P.hot_fraction = num_arg(o, v, 0, 1);
    else if (!strcmp(o, "--hot-share")) P.hot_share = num_arg(o, v, 0, 1);
    else if (!strcmp(o, "--zipf")) P.zipf_s = num_arg(o, v, 0, 100);
    else if (!strcmp(o, "--write-ratio")) P.write_ratio = num_arg(o, v, 0, 1);
    else if (!strcmp(o, "--seed")) P.seed = uint_arg(o, v, 0, UINT64_MAX);
    else if (!strcmp(o, "--node")) P.node = (int)uint_arg(o, v, 0, MASK_LONGS * 64 - 1);
    else if (!strcmp(o, "--threads")) P.threads = (int)uint_arg(o, v, 1, MAX_THREADS);
    else if (!strcmp(o, "--report-ms")) P.report_ms = (int)uint_arg(o, v, 1, 3600000);
    else if (!strcmp(o, "--duration-s")) P.duration_s = num_arg(o, v, 0, 1e9);
    else if (!strcmp(o, "--phase")) parse_phase(v);
    else if (!strcmp(o, "--base")) P.base = uint_arg(o, v, 1ULL << 32, 1ULL << 46);
    else if (!strcmp(o, "--map")) {
      if (!strcmp(v, "carve")) P.carve = 1;
      else if (!strcmp(v, "fixed")) P.carve = 0;
      else die("--map: fixed or carve, got '%s'", v);
    } else die("unknown option %s (--help)", o);
  }
  if (P.base % PAGE) die("--base must be page aligned");
  qsort(P.phases, P.nphases, sizeof P.phases[0], cmp_phase);
}

// ---------------------------------------------------------------- --hot-pages
static void print_hot(uint64_t b) {
  fputs("[", stdout);
  for (uint64_t r = 0; r < H; r++) printf(r ? ",%" PRIu64 : "%" PRIu64, (uint64_t)(((unsigned __int128)A * r + b) % N));
  fputs("]", stdout);
}
static int hot_pages(void) {
  printf("{\"pages\":%" PRIu64 ",\"hotPages\":%" PRIu64 ",\"a\":%" PRIu64 ",\"b\":%" PRIu64 ",\"order\":\"rank\",\"hot\":", N, H, A, B0);
  print_hot(B0);
  fputs(",\"phases\":[", stdout);
  uint64_t b = B0;
  for (int i = 0; i < P.nphases; i++) {
    b = mod_shift(b, P.phases[i].shift);
    printf("%s{\"phase\":%d,\"t\":%" PRId64 ",\"hotshift\":%" PRId64 ",\"b\":%" PRIu64 ",\"hot\":", i ? "," : "", i + 1, P.phases[i].t_ms,
           P.phases[i].shift, b);
    print_hot(b);
    fputs("}", stdout);
  }
  fputs("]}\n", stdout);
  return fflush(stdout) ? 1 : 0;
}

// ---------------------------------------------------------------- memory
static void map_chunks(void) {
  uint64_t stride = (P.chunk_pages + 1) * PAGE, span = NCHUNKS * stride;
  long maxmap = 65530;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  if (f) { if (fscanf(f, "%ld", &maxmap) != 1) maxmap = 65530; fclose(f); }
  if ((long)NCHUNKS > maxmap - 2000) die("%" PRIu64 " chunks exceed vm.max_map_count %ld (minus headroom): raise --chunk-pages", NCHUNKS, maxmap);
  int ok = 0;
  if (!P.carve && P.base + span <= (1ULL << 47)) {
    char *base = (char *)(uintptr_t)P.base;
    uint64_t c;
    for (c = 0; c < NCHUNKS; c++) {
      uint64_t pages = c + 1 < NCHUNKS ? P.chunk_pages : N - c * P.chunk_pages;
      void *want = base + c * stride;
      void *got = mmap(want, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
      if (got == MAP_FAILED) break;
      if (got != want) { munmap(got, pages * PAGE); break; }  // kernel < 4.17 treats the flag as a hint
    }
    if (c == NCHUNKS) { BASE = base; ok = 1; }
    else for (uint64_t d = 0; d < c; d++) munmap(base + d * stride, P.chunk_pages * PAGE);
  }
  if (!ok) {  // reserve the whole span PROT_NONE, carve the chunks in it, unmap the gaps
    MAPMODE = "reserve-carve";
    char *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) die("mmap reserve of %" PRIu64 " bytes: %s", span, strerror(errno));
    for (uint64_t c = 0; c < NCHUNKS; c++) {
      uint64_t pages = c + 1 < NCHUNKS ? P.chunk_pages : N - c * P.chunk_pages;
      char *at = r + c * stride;
      if (mmap(at, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
        die("mmap chunk %" PRIu64 ": %s", c, strerror(errno));
      if (munmap(at + pages * PAGE, stride - pages * PAGE)) die("munmap gap %" PRIu64 ": %s", c, strerror(errno));
    }
    BASE = r;
  }
  for (uint64_t c = 0; c < NCHUNKS; c++) {
    uint64_t pages = c + 1 < NCHUNKS ? P.chunk_pages : N - c * P.chunk_pages;
    if (madvise(BASE + c * stride, pages * PAGE, MADV_NOHUGEPAGE)) die("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
  }
}
static inline char *page_addr(uint64_t i) { return BASE + (i + i / P.chunk_pages) * PAGE; }

// First touch under MPOL_BIND(node), then MPOL_DEFAULT; returns how many pages ended on the node.
static uint64_t first_touch(void) {
  unsigned long mask[MASK_LONGS] = {0};
  mask[P.node / 64] = 1UL << (P.node % 64);
  if (syscall(SYS_set_mempolicy, FTH_MPOL_BIND, mask, (unsigned long)(MASK_LONGS * 64 + 1)))
    die("set_mempolicy(MPOL_BIND, node %d): %s", P.node, strerror(errno));
  for (uint64_t i = 0; i < N; i++) *(volatile uint64_t *)page_addr(i) = i;
  if (syscall(SYS_set_mempolicy, FTH_MPOL_DEFAULT, NULL, 0UL)) die("set_mempolicy(MPOL_DEFAULT): %s", strerror(errno));
  void **pages = malloc(N * sizeof(void *));
  int *status = malloc(N * sizeof(int));
  if (!pages || !status) die("out of memory");
  for (uint64_t i = 0; i < N; i++) pages[i] = page_addr(i);
  uint64_t on = 0;
  if (syscall(SYS_move_pages, 0, (unsigned long)N, pages, NULL, status, 0) == 0)
    for (uint64_t i = 0; i < N; i++) on += status[i] == P.node;
  else on = UINT64_MAX;
  free(pages);
  free(status);
  return on;
}

// ---------------------------------------------------------------- threads
struct thr {
  _Atomic uint64_t ops;
  _Atomic uint32_t phase;  // the phase of the batch this thread is running
  pid_t tid;
  int idx;
  pthread_t th;
  char pad[64];
} __attribute__((aligned(64)));
static struct thr *TH;
static _Atomic int STOP;
// phase << 32 | b, one word so that a worker never pairs one phase's number with another's b
static _Atomic uint64_t CUR_PB;
static pthread_barrier_t BAR;

static struct zipf ZIPF;
// --zipf-int: Zipf(1) approximated with integers only, P(rank r) ∝ 1/(r+1) up to a factor 2: rank
// buckets [2^j - 1, 2^(j+1) - 1), each drawn with probability 1/ZL. The rejection-inversion path
// loads dozens of FP constants from .rodata per operation; under TCG each load is a memory access
// the access counter sees (to a page-cache page of this binary), which would swamp the working
// set's own accesses. ZL = 0: the FP path.
static uint64_t ZL;
// One batch loop, everything in registers: the PRNG is splitmix64 (one word of state), the integer
// parameters in GPRs, the Zipf parameters in SSE registers, exp/log inline (above), the rejection
// test inline too (a call would clobber every SSE register).
AI uint64_t run(char *const base, uint64_t *state, const uint64_t b) {
  uint64_t x = *state;
  const uint64_t n = N, a = A, h = H, cp = P.chunk_pages;
  const double zs = ZIPF.s, oms = 1.0 - ZIPF.s, zn = ZIPF.hn, zmul = (ZIPF.hx1 - ZIPF.hn) * 0x1.0p-53, zthr = ZIPF.thr;
  // One 64-bit draw r per op decides everything but the Zipf rank: bits 0-8 the word in the page,
  // bits 9-31 the write test (r/w threshold in 2^-23 steps), bits 32-63 the hot test (2^-32 steps).
  // Both thresholds share one register: thr = hot << 24 | write.
  const uint64_t hthr = H == 0 ? 0 : H == N ? (1ULL << 32) : (uint64_t)(P.hot_share * 4294967296.0);
  const uint64_t wthr = (uint64_t)(P.write_ratio * 8388608.0);
  const uint64_t thr = hthr << 24 | wthr;
  for (int i = BATCH; i; i--) {
    uint64_t rank;
    const uint64_t r = splitmix64_loop(&x);
    if ((r >> 32) < (thr >> 24)) {
      for (;;) {  // rejection-inversion over ranks 1..H
        const double u = zn + (double)(int64_t)(splitmix64_loop(&x) >> 11) * zmul;
        double t = u * oms;
        t = t < -1.0 ? -1.0 : t;
        const double xx = fth_exp(zh1(t) * u);
        int64_t k = (int64_t)(xx + 0.5);  // clamp to 1..H in the integer unit
        k = k < 1 ? 1 : k;
        k = (uint64_t)k > h ? (int64_t)h : k;
        const double kd = (double)k;
        if (kd - xx <= zthr || u >= zH(kd + 0.5, zs) - zh(kd, zs)) { rank = (uint64_t)k - 1; break; }
      }
    } else {
      uint64_t nh = n;
      __asm__ volatile("" : "+r"(nh));  // n - h is recomputed here, not kept in a register
      nh -= h;
      rank = h + (uint64_t)(((unsigned __int128)splitmix64_loop(&x) * nh) >> 64);
    }
    const uint64_t page = (a * rank + b) % n;
    volatile uint64_t *w = (volatile uint64_t *)(base + ((page + page / cp) << 12) + ((r & 511) << 3));
    const uint64_t v = *w;
    if (((r >> 9) & 0x7fffff) < (thr & 0xffffff)) *w = v + 1;
  }
  *state = x;
  return BATCH;
}

// The --zipf-int batch: its own function, so that the FP path's register pressure cannot push its
// operands to the stack. Per operation it touches memory exactly once or twice, at the working
// set's word (`bash build.sh --check-loop` lists its memory operands: none but that word).
__attribute__((noinline)) static uint64_t run_int(char *const base, uint64_t *state, const uint64_t b) {
  uint64_t x = *state;
  const uint64_t n = N, a = A, h = H, cp = P.chunk_pages, zl = ZL;
  const uint64_t hthr = H == 0 ? 0 : H == N ? (1ULL << 32) : (uint64_t)(P.hot_share * 4294967296.0);
  const uint64_t wthr = (uint64_t)(P.write_ratio * 8388608.0);
  const uint64_t thr = hthr << 24 | wthr;  // one register for both (as in run)
  for (int i = BATCH; i; i--) {
    uint64_t rank;
    const uint64_t r = splitmix64_loop(&x);
    if ((r >> 32) < (thr >> 24)) {  // a log-uniform bucket j in [0, zl), then a rank in [2^j - 1, 2^(j+1) - 1) ∩ [0, H)
      const uint64_t r2 = splitmix64_loop(&x);
      const uint64_t j = ((r2 >> 32) * zl) >> 32, lo = (1ULL << j) - 1;
      const uint64_t hi = (lo << 1) + 1 < h ? (lo << 1) + 1 : h;
      rank = lo + (((r2 & 0xffffffffULL) * (hi - lo)) >> 32);
    } else {
      // 32 × 32 bits in one imul (N < 2^32): no rdx:rax pair, which would push a value to the stack
      uint64_t nh = n;
      __asm__ volatile("" : "+r"(nh));  // n - h recomputed here: kept in a register it would spill
      nh -= h;
      rank = h + (((splitmix64_loop(&x) >> 32) * nh) >> 32);
    }
    const uint64_t page = (a * rank + b) % n;
    volatile uint64_t *w = (volatile uint64_t *)(base + ((page + page / cp) << 12) + ((r & 511) << 3));
    const uint64_t v = *w;
    if (((r >> 9) & 0x7fffff) < (thr & 0xffffff)) *w = v + 1;
  }
  *state = x;
  return BATCH;
}

static void *worker(void *arg) {
  struct thr *me = arg;
  me->tid = (pid_t)syscall(SYS_gettid);
  pthread_barrier_wait(&BAR);
  uint64_t sm = P.seed ^ ((uint64_t)me->idx + 1) * 0xd1b54a32d192ed03ULL;
  uint64_t s = splitmix64(&sm);  // per-thread stream start
  char *const base = BASE;
  uint64_t ops = 0;
  while (!atomic_load_explicit(&STOP, memory_order_relaxed)) {
    const uint64_t pb = atomic_load_explicit(&CUR_PB, memory_order_relaxed), b = pb & 0xffffffffu;
    atomic_store_explicit(&me->phase, (uint32_t)(pb >> 32), memory_order_relaxed);
    ops += ZL ? run_int(base, &s, b) : run(base, &s, b);
    atomic_store_explicit(&me->ops, ops, memory_order_relaxed);
  }
  return NULL;
}

static int64_t now_ms(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
// The phase every worker has switched to (a worker that was not scheduled since the change still
// runs the old hot set, so the reported phase lags until it has started a batch with the new one).
static int min_phase(void) {
  uint32_t m = UINT32_MAX;
  for (int i = 0; i < P.threads; i++) {
    uint32_t p = atomic_load_explicit(&TH[i].phase, memory_order_relaxed);
    if (p < m) m = p;
  }
  return (int)m;
}
static uint64_t total_ops(void) {
  uint64_t s = 0;
  for (int i = 0; i < P.threads; i++) s += atomic_load_explicit(&TH[i].ops, memory_order_relaxed);
  return s;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  derive();
  if (P.hot_pages_mode) return hot_pages();
  signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT are blocked from here on (the workers inherit the mask) and taken by the main
  // loop with sigtimedwait; one that arrives during the first touch ends the run right after it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  map_chunks();
  uint64_t on = first_touch();

  atomic_store(&CUR_PB, B0);
  ZIPF = zipf_init(H ? H : 1, P.zipf_s);
  if (P.zipf_int) { ZL = 1; while (((1ULL << ZL) - 1) < (H ? H : 1)) ZL++; }
  TH = aligned_alloc(64, sizeof(struct thr) * (size_t)P.threads);
  if (!TH) die("out of memory");
  memset(TH, 0, sizeof(struct thr) * (size_t)P.threads);
  pthread_barrier_init(&BAR, NULL, (unsigned)P.threads + 1);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 256 * 1024);
  for (int i = 0; i < P.threads; i++) {
    TH[i].idx = i;
    int e = pthread_create(&TH[i].th, &at, worker, &TH[i]);
    if (e) die("pthread_create: %s", strerror(e));
  }
  pthread_barrier_wait(&BAR);
  const int64_t t0 = now_ms(CLOCK_MONOTONIC);

  const uint64_t stride = (P.chunk_pages + 1) * PAGE;
  printf("{\"ready\":true,\"pid\":%d,\"tids\":[", (int)getpid());
  for (int i = 0; i < P.threads; i++) printf(i ? ",%d" : "%d", (int)TH[i].tid);
  printf("],\"pages\":%" PRIu64 ",\"hotPages\":%" PRIu64 ",\"a\":%" PRIu64 ",\"b\":%" PRIu64 ",\"node\":%d,", N, H, A, B0, P.node);
  if (on == UINT64_MAX) fputs("\"onNode\":null,", stdout);
  else printf("\"onNode\":%" PRIu64 ",", on);
  printf("\"map\":\"%s\",\"thp\":\"off\",\"base\":\"%p\",\"chunkPages\":%" PRIu64 ",\"chunkStride\":%" PRIu64 ",\"gapPages\":1,\"nChunks\":%" PRIu64
         ",\"chunks\":[",
         MAPMODE, (void *)BASE, P.chunk_pages, stride, NCHUNKS);
  for (uint64_t c = 0; c < NCHUNKS; c++) {
    uint64_t pages = c + 1 < NCHUNKS ? P.chunk_pages : N - c * P.chunk_pages;
    printf("%s{\"start\":\"%p\",\"pages\":%" PRIu64 "}", c ? "," : "", (void *)(BASE + c * stride), pages);
  }
  fputs("]}\n", stdout);
  fflush(stdout);

  int phase = 0;
  uint64_t b = B0;
  int64_t next_report = t0 + P.report_ms;
  const int64_t end = P.duration_s > 0 ? t0 + (int64_t)(P.duration_s * 1000) : INT64_MAX;
  for (;;) {
    int64_t now = now_ms(CLOCK_MONOTONIC);
    while (phase < P.nphases && t0 + P.phases[phase].t_ms <= now) {
      b = mod_shift(b, P.phases[phase].shift);
      phase++;
      atomic_store_explicit(&CUR_PB, (uint64_t)phase << 32 | b, memory_order_relaxed);
    }
    if (now >= end) break;
    if (now >= next_report) {
      printf("{\"t\":%" PRId64 ",\"ops\":%" PRIu64 ",\"phase\":%d}\n", now_ms(CLOCK_REALTIME), total_ops(), min_phase());
      if (fflush(stdout)) break;  // reader gone
      while (next_report <= now) next_report += P.report_ms;
    }
    int64_t wake = next_report;
    if (end < wake) wake = end;
    if (phase < P.nphases && t0 + P.phases[phase].t_ms < wake) wake = t0 + P.phases[phase].t_ms;
    int64_t d = wake - now_ms(CLOCK_MONOTONIC);
    if (d < 0) d = 0;
    struct timespec ts = {d / 1000, (d % 1000) * 1000000};
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  atomic_store(&STOP, 1);
  for (int i = 0; i < P.threads; i++) pthread_join(TH[i].th, NULL);
  printf("{\"t\":%" PRId64 ",\"ops\":%" PRIu64 ",\"phase\":%d,\"final\":true}\n", now_ms(CLOCK_REALTIME), total_ops(), min_phase());
  fflush(stdout);
  return 0;
}
