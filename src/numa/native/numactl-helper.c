// fth-numa: the privileged NUMA helper (research/numa.md sections 2.1 and 2.3). Long-running; one
// JSON request per line on stdin, one JSON reply per line on stdout, strictly in order. A malformed or
// failing request gets {"error":"…"} (plus "errno":"E…" when a system call failed) and the helper
// keeps going. No libnuma: raw move_pages / migrate_pages / get_mempolicy system calls.
//
// Requests (fields not listed for an op are rejected):
//   {"op":"ping"}                                       -> {"ok":true,"version":1,"pid":…}
//   {"op":"nodes"}                                      -> {"online":"0-1","possible":"0-3","memsAllowed":[0,1]}
//   {"op":"features"}                                   -> {"softDirty":bool,"pfnVisible":bool,"numaBalancing":"1"|null}
//   {"op":"query","pid":P, PAGES}                       -> {"status":[node or -errno,…]}
//   {"op":"move","pid":P, PAGES,"node":N[,"moveAll":true]} -> {"status":[…],"notMoved":k,"ms":…}
//   {"op":"migrate","pid":P,"from":[0],"to":[1]}        -> {"notMoved":k,"ms":…}
//   {"op":"softdirty-clear","pid":P} / {"op":"refs-clear","pid":P} -> {"ok":true}
//   {"op":"softdirty","pid":P, PAGES}                   -> {"supported":bool,"pages":n,"count":c,"present":p,"bitmap":"<base64>"}
//       supported=false: this kernel has no CONFIG_MEM_SOFT_DIRTY, bit 55 is never set (count is 0)
//   {"op":"pfn","pid":P, PAGES[,"encoding":"base64"]}   -> {"pages":n,"present":p,"visible":bool,"pfn":[…]} | "pfn64":"<base64 u64 LE>"
//   {"op":"referenced","pid":P[,"start":"0x…","pages":n]} -> {"start":["0x…"],"sizeKb":[…],"rssKb":[…],"referencedKb":[…]}
//   {"op":"affinity","tid":T,"cpus":[…]} or {"op":"affinity","pid":P,"cpus":[…]} (every thread) -> {"ok":true,"tids":[…]}
//   {"op":"where","pid":P}                              -> {"threads":[{"tid","cpu","allowed","utime","stime"},…]}
//   {"op":"vmstat"}                                     -> {"numa_hit":…,…} (numa_*, pgmigrate_*, pgpromote_*, pgdemote_*)
//   {"op":"sysctl","name":"kernel.numa_balancing"[,"value":"0"]} -> {"name":…,"value":"…"}
//   {"op":"perf","pid":P,"ms":M}                        -> {"ms":M,"threads":k,"events":[{"name","kind","supported","value"|"error"},…]}
// PAGES is either "addrs":["0x…",…] or "start":"0x…","pages":n[,"chunkPages":C,"gapPages":G]; the
// range form with C/G describes fth-numawl's layout: page i is at start + (i + (i/C)*G) * 4096.
// Bitmaps are LSB-first: bit i (page i) is byte i>>3, bit i&7.
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// <linux/mempolicy.h>
#define FTH_MPOL_MF_MOVE (1 << 1)
#define FTH_MPOL_MF_MOVE_ALL (1 << 2)
#define FTH_MPOL_F_MEMS_ALLOWED (1 << 2)

#define MAX_LINE (8u << 20)
#define MAX_PAGES (1u << 24)
#define MAX_FIELDS 16
#define MASK_LONGS 16 /* 1024 nodes */
#define MAX_CPU 8192
#define PAGE 4096ULL

// ---------------------------------------------------------------- output
static struct { char *p; size_t len, cap; } O;
static void oreserve(size_t n) {
  if (O.len + n <= O.cap) return;
  size_t c = O.cap ? O.cap : 1 << 16;
  while (c < O.len + n) c *= 2;
  char *p = realloc(O.p, c);
  if (!p) { fputs("fth-numa: out of memory\n", stderr); exit(3); }
  O.p = p, O.cap = c;
}
static void oput(const char *s, size_t n) { oreserve(n); memcpy(O.p + O.len, s, n); O.len += n; }
static void os(const char *s) { oput(s, strlen(s)); }
static void of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void of(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  oreserve((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(O.p + O.len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  O.len += (size_t)n;
}
static void ostr(const char *s) {  // JSON string
  oreserve(strlen(s) * 6 + 2);
  O.p[O.len++] = '"';
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') { O.p[O.len++] = '\\'; O.p[O.len++] = (char)*c; }
    else if (*c < 0x20) O.len += (size_t)sprintf(O.p + O.len, "\\u%04x", *c);
    else O.p[O.len++] = (char)*c;
  }
  O.p[O.len++] = '"';
}
static void ob64(const unsigned char *d, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  oreserve((n + 2) / 3 * 4 + 2);
  O.p[O.len++] = '"';
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    O.p[O.len++] = t[v >> 18], O.p[O.len++] = t[(v >> 12) & 63], O.p[O.len++] = t[(v >> 6) & 63], O.p[O.len++] = t[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
    O.p[O.len++] = t[v >> 18], O.p[O.len++] = t[(v >> 12) & 63];
    O.p[O.len++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    O.p[O.len++] = '=';
  }
  O.p[O.len++] = '"';
}
static void oflush(void) {
  oput("\n", 1);
  size_t off = 0;
  while (off < O.len) {
    ssize_t w = write(1, O.p + off, O.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0);  // reader gone
    off += (size_t)w;
  }
  O.len = 0;
  if (O.cap > (64u << 20)) { free(O.p); O.p = NULL; O.cap = 0; }
}

// An error reply replaces whatever was built so far.
static int reply_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reply_error(int err, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  O.len = 0;
  os("{\"error\":");
  if (err) {
    char full[700];
    snprintf(full, sizeof full, "%s: %s", msg, strerror(err));
    ostr(full);
    const char *name = strerrorname_np(err);
    os(",\"errno\":");
    if (name) ostr(name); else of("\"E%d\"", err);
  } else ostr(msg);
  os("}");
  return -1;
}
static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EUNKNOWN";
}

// ---------------------------------------------------------------- request parsing (flat JSON object)
enum vt { V_INT, V_STR, V_BOOL, V_INTS, V_STRS };
struct field {
  const char *key;
  enum vt t;
  int used;
  int64_t i;
  char *s;
  int64_t *ints;
  char **strs;
  size_t n;
};
static struct field F[MAX_FIELDS];
static int NF;
static const char *PERR;

static void free_fields(void) {
  for (int k = 0; k < NF; k++) { free(F[k].ints); free(F[k].strs); }
  NF = 0;
}
static void ws(char **p) { while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n') (*p)++; }
// In-place string parse: *p at the opening quote; returns the unescaped string (NUL-terminated).
static char *pstring(char **p) {
  if (**p != '"') { PERR = "expected a string"; return NULL; }
  char *r = ++*p, *w = r;
  for (;;) {
    unsigned char c = (unsigned char)**p;
    if (c == 0) { PERR = "unterminated string"; return NULL; }
    if (c < 0x20) { PERR = "control character in string"; return NULL; }
    (*p)++;
    if (c == '"') break;
    if (c == '\\') {
      char e = *(*p)++;
      switch (e) {
        case '"': case '\\': case '/': *w++ = e; break;
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        default: PERR = "unsupported escape in string (\\u is not accepted)"; return NULL;
      }
    } else *w++ = (char)c;
  }
  *w = 0;  // w < *p here: the closing quote at least was consumed
  return r;
}
static int pint(char **p, int64_t *out) {
  char *s = *p;
  int neg = 0;
  if (*s == '-') neg = 1, s++;
  if (!isdigit((unsigned char)*s)) { PERR = "expected a number"; return -1; }
  if (*s == '0' && isdigit((unsigned char)s[1])) { PERR = "leading zero in number"; return -1; }
  uint64_t v = 0;
  while (isdigit((unsigned char)*s)) {
    unsigned d = (unsigned)(*s++ - '0');
    if (v > (UINT64_C(9223372036854775808) - d) / 10) { PERR = "number out of range"; return -1; }
    v = v * 10 + d;
  }
  if (*s == '.' || *s == 'e' || *s == 'E') { PERR = "only integers are accepted"; return -1; }
  if (!neg && v > INT64_MAX) { PERR = "number out of range"; return -1; }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  *p = s;
  return 0;
}
static int parse_request(char *line) {
  char *p = line;
  NF = 0;
  PERR = NULL;
  ws(&p);
  if (*p++ != '{') { PERR = "expected a JSON object"; return -1; }
  ws(&p);
  if (*p == '}') { p++; goto end; }
  for (;;) {
    ws(&p);
    char *key = pstring(&p);
    if (!key) return -1;
    for (int k = 0; k < NF; k++)
      if (!strcmp(F[k].key, key)) { PERR = "duplicate field"; return -1; }
    if (NF == MAX_FIELDS) { PERR = "too many fields"; return -1; }
    struct field *f = &F[NF++];
    memset(f, 0, sizeof *f);
    f->key = key;
    ws(&p);
    if (*p++ != ':') { PERR = "expected ':'"; return -1; }
    ws(&p);
    if (*p == '"') {
      f->t = V_STR;
      if (!(f->s = pstring(&p))) return -1;
    } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
      f->t = V_BOOL;
      f->i = *p == 't';
      p += f->i ? 4 : 5;
    } else if (*p == '[') {
      p++;
      ws(&p);
      size_t cap = 0;
      f->t = V_INTS;
      if (*p == '"') f->t = V_STRS;
      if (*p != ']') {
        for (;;) {
          ws(&p);
          if (f->n == cap) {
            cap = cap ? cap * 2 : 64;
            void *q = f->t == V_INTS ? realloc(f->ints, cap * sizeof(int64_t)) : realloc(f->strs, cap * sizeof(char *));
            if (!q) { PERR = "out of memory"; return -1; }
            if (f->t == V_INTS) f->ints = q; else f->strs = q;
          }
          if (f->t == V_INTS) {
            if (pint(&p, &f->ints[f->n])) { if (*p == '"') PERR = "mixed array"; return -1; }
          } else {
            if (*p != '"') { PERR = "mixed array"; return -1; }
            if (!(f->strs[f->n] = pstring(&p))) return -1;
          }
          f->n++;
          ws(&p);
          if (*p == ',') { p++; continue; }
          if (*p == ']') break;
          PERR = "expected ',' or ']'";
          return -1;
        }
      }
      p++;
    } else {
      f->t = V_INT;
      if (pint(&p, &f->i)) return -1;
    }
    ws(&p);
    if (*p == ',') { p++; continue; }
    if (*p == '}') { p++; break; }
    PERR = "expected ',' or '}'";
    return -1;
  }
end:
  ws(&p);
  if (*p) { PERR = "trailing characters after the object"; return -1; }
  return 0;
}
static struct field *field(const char *key) {
  for (int k = 0; k < NF; k++)
    if (!strcmp(F[k].key, key)) { F[k].used = 1; return &F[k]; }
  return NULL;
}
// getters: return 1 if present, 0 if absent, -1 (error reply built) if wrong
static int get_int(const char *key, int64_t lo, int64_t hi, int64_t *out, int required) {
  struct field *f = field(key);
  if (!f) return required ? reply_error(0, "missing field \"%s\"", key) : 0;
  if (f->t != V_INT) return reply_error(0, "field \"%s\" must be an integer", key);
  if (f->i < lo || f->i > hi) return reply_error(0, "field \"%s\" out of range [%" PRId64 ", %" PRId64 "]", key, lo, hi);
  *out = f->i;
  return 1;
}
static int get_str(const char *key, char **out, int required) {
  struct field *f = field(key);
  if (!f) return required ? reply_error(0, "missing field \"%s\"", key) : 0;
  if (f->t != V_STR) return reply_error(0, "field \"%s\" must be a string", key);
  *out = f->s;
  return 1;
}
static int get_ints(const char *key, int64_t lo, int64_t hi, int64_t **out, size_t *n, int required) {
  struct field *f = field(key);
  if (!f) return required ? reply_error(0, "missing field \"%s\"", key) : 0;
  if (f->t != V_INTS) return reply_error(0, "field \"%s\" must be an array of integers", key);
  for (size_t i = 0; i < f->n; i++)
    if (f->ints[i] < lo || f->ints[i] > hi) return reply_error(0, "field \"%s\"[%zu] out of range", key, i);
  *out = f->ints, *n = f->n;
  return 1;
}
static int parse_addr(const char *s, uint64_t *out) {
  if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2]) return -1;
  uint64_t v = 0;
  int nd = 0;
  for (const char *c = s + 2; *c; c++) {
    int d = isdigit((unsigned char)*c) ? *c - '0' : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10 : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10 : -1;
    if (d < 0 || ++nd > 16) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}
static int get_addr(const char *key, uint64_t *out, int required) {
  char *s;
  int r = get_str(key, &s, required);
  if (r <= 0) return r;
  if (parse_addr(s, out)) return reply_error(0, "field \"%s\" must be a hex address \"0x…\"", key);
  return 1;
}
static int check_unused(const char *op) {
  for (int k = 0; k < NF; k++)
    if (!F[k].used) return reply_error(0, "unexpected field \"%s\" for op \"%s\"", F[k].key, op);
  return 0;
}
static int get_pid(const char *key, pid_t *pid) {
  int64_t v = 0;
  *pid = 0;
  int r = get_int(key, 1, INT32_MAX, &v, 1);
  if (r > 0) *pid = (pid_t)v;
  return r;
}

// PAGES: "addrs" or "start"+"pages"[+"chunkPages"+"gapPages"]
static int get_pages(uint64_t **out, size_t *n) {
  struct field *fa = field("addrs");
  uint64_t start;
  int hs = get_addr("start", &start, 0);
  if (hs < 0) return -1;
  if (fa && hs) return reply_error(0, "give either \"addrs\" or \"start\"+\"pages\", not both");
  if (fa) {
    if (fa->t != V_STRS && !(fa->t == V_INTS && fa->n == 0)) return reply_error(0, "field \"addrs\" must be an array of hex strings");
    uint64_t *a = malloc((fa->n ? fa->n : 1) * sizeof *a);
    if (!a) return reply_error(ENOMEM, "addrs");
    for (size_t i = 0; i < fa->n; i++)
      if (parse_addr(fa->strs[i], &a[i])) { free(a); return reply_error(0, "addrs[%zu] is not a hex address", i); }
    *out = a, *n = fa->n;
    return 0;
  }
  if (!hs) return reply_error(0, "missing \"addrs\" or \"start\"+\"pages\"");
  int64_t pages, cp = 0, gap = 0;
  if (get_int("pages", 0, MAX_PAGES, &pages, 1) < 0) return -1;
  int hc = get_int("chunkPages", 1, INT32_MAX, &cp, 0), hg = get_int("gapPages", 0, INT32_MAX, &gap, 0);
  if (hc < 0 || hg < 0) return -1;
  if (hg && !hc) return reply_error(0, "\"gapPages\" needs \"chunkPages\"");
  if (start % PAGE) return reply_error(0, "\"start\" must be page aligned");
  uint64_t *a = malloc(((size_t)pages ? (size_t)pages : 1) * sizeof *a);
  if (!a) return reply_error(ENOMEM, "pages");
  for (uint64_t i = 0; i < (uint64_t)pages; i++) a[i] = start + (i + (hc ? i / (uint64_t)cp * (uint64_t)gap : 0)) * PAGE;
  *out = a, *n = (size_t)pages;
  return 0;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}
static void oints(const int *v, size_t n) {
  oreserve(n * 12 + 2);
  O.p[O.len++] = '[';
  for (size_t i = 0; i < n; i++) O.len += (size_t)sprintf(O.p + O.len, i ? ",%d" : "%d", v[i]);
  O.p[O.len++] = ']';
}

// ---------------------------------------------------------------- ops
static int op_query_move(int move) {
  pid_t pid;
  int64_t node = 0, moveall = 0;
  if (get_pid("pid", &pid) < 0) return -1;
  if (move) {
    if (get_int("node", 0, MASK_LONGS * 64 - 1, &node, 1) < 0) return -1;
    struct field *f = field("moveAll");
    if (f) {
      if (f->t != V_BOOL) return reply_error(0, "field \"moveAll\" must be true or false");
      moveall = f->i;
    }
  }
  uint64_t *addrs;
  size_t n;
  if (get_pages(&addrs, &n) < 0) return -1;
  if (check_unused(move ? "move" : "query") < 0) { free(addrs); return -1; }
  int *status = malloc((n ? n : 1) * sizeof(int)), *nodes = NULL;
  if (!status) { free(addrs); return reply_error(ENOMEM, "status"); }
  if (move) {
    nodes = malloc((n ? n : 1) * sizeof(int));
    if (!nodes) { free(addrs); free(status); return reply_error(ENOMEM, "nodes"); }
    for (size_t i = 0; i < n; i++) nodes[i] = (int)node;
  }
  double t0 = now_ms();
  long r = n ? syscall(SYS_move_pages, pid, (unsigned long)n, (void **)addrs, nodes, status,
                       move ? (moveall ? FTH_MPOL_MF_MOVE_ALL : FTH_MPOL_MF_MOVE) : 0)
             : 0;
  int e = errno;
  double ms = now_ms() - t0;
  free(addrs);
  free(nodes);
  if (r < 0) { free(status); return reply_error(e, "move_pages(pid %d, %zu pages)", pid, n); }
  os("{\"status\":");
  oints(status, n);
  free(status);
  if (move) of(",\"notMoved\":%ld,\"ms\":%.3f", r, ms);
  os("}");
  return 0;
}

static int nodemask(const char *key, unsigned long *mask) {
  int64_t *v;
  size_t n;
  if (get_ints(key, 0, MASK_LONGS * 64 - 1, &v, &n, 1) < 0) return -1;
  if (!n) return reply_error(0, "field \"%s\" is empty", key);
  memset(mask, 0, MASK_LONGS * sizeof(unsigned long));
  for (size_t i = 0; i < n; i++) mask[v[i] / 64] |= 1UL << (v[i] % 64);
  return 0;
}
static int op_migrate(void) {
  pid_t pid;
  unsigned long from[MASK_LONGS], to[MASK_LONGS];
  if (get_pid("pid", &pid) < 0 || nodemask("from", from) < 0 || nodemask("to", to) < 0 || check_unused("migrate") < 0) return -1;
  double t0 = now_ms();
  long r = syscall(SYS_migrate_pages, pid, (unsigned long)(MASK_LONGS * 64 + 1), from, to);
  int e = errno;
  double ms = now_ms() - t0;
  if (r < 0) return reply_error(e, "migrate_pages(pid %d)", pid);
  of("{\"notMoved\":%ld,\"ms\":%.3f}", r, ms);
  return 0;
}

static int write_proc(const char *path, const char *val) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, val, strlen(val));
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)strlen(val) ? 0 : -1;
}
static int op_clear_refs(const char *op, const char *val) {
  pid_t pid;
  if (get_pid("pid", &pid) < 0 || check_unused(op) < 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/clear_refs", pid);
  if (write_proc(path, val)) return reply_error(errno, "write %s to %s", val, path);
  os("{\"ok\":true}");
  return 0;
}

// pagemap entries for the pages, consecutive pages read in one pread
static int read_pagemap(pid_t pid, const uint64_t *addrs, size_t n, uint64_t *ent) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return reply_error(errno, "open %s", path);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && addrs[j] / PAGE == addrs[j - 1] / PAGE + 1) j++;
    size_t want = (j - i) * 8, got = 0;
    off_t off = (off_t)(addrs[i] / PAGE * 8);
    while (got < want) {
      ssize_t r = pread(fd, (char *)(ent + i) + got, want - got, off + (off_t)got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        int e = r < 0 ? errno : EIO;
        close(fd);
        return reply_error(e, "read %s at 0x%" PRIx64, path, addrs[i]);
      }
      got += (size_t)r;
    }
    i = j;
  }
  close(fd);
  return 0;
}
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN ((1ULL << 55) - 1)
// Does this kernel track soft-dirty (CONFIG_MEM_SOFT_DIRTY)? A new mapping is soft-dirty as a whole,
// so a page just written in one must read back with bit 55; without the option it never does.
// Also tells whether PFNs are visible to us. Probed once, on our own memory.
static int SD_SUPPORTED = -1, PFN_VISIBLE = -1;
static void probe_pagemap(void) {
  if (SD_SUPPORTED >= 0) return;
  SD_SUPPORTED = PFN_VISIBLE = 0;
  volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  p[0] = 1;
  uint64_t e = 0;
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) == 8) {
    SD_SUPPORTED = (e & PM_SOFT_DIRTY) != 0;
    PFN_VISIBLE = (e & PM_PRESENT) && (e & PM_PFN);
  }
  if (fd >= 0) close(fd);
  munmap((void *)p, PAGE);
}
static int op_pagemap(int pfn) {
  pid_t pid;
  char *enc = NULL;
  if (get_pid("pid", &pid) < 0) return -1;
  if (pfn && get_str("encoding", &enc, 0) < 0) return -1;
  if (enc && strcmp(enc, "base64") && strcmp(enc, "json")) return reply_error(0, "\"encoding\" is \"json\" or \"base64\"");
  uint64_t *addrs;
  size_t n;
  if (get_pages(&addrs, &n) < 0) return -1;
  if (check_unused(pfn ? "pfn" : "softdirty") < 0) { free(addrs); return -1; }
  uint64_t *ent = malloc((n ? n : 1) * 8);
  if (!ent) { free(addrs); return reply_error(ENOMEM, "pagemap"); }
  int r = read_pagemap(pid, addrs, n, ent);
  free(addrs);
  if (r < 0) { free(ent); return -1; }
  size_t present = 0, dirty = 0, visible = 0;
  for (size_t i = 0; i < n; i++) {
    present += (ent[i] & PM_PRESENT) != 0;
    dirty += (ent[i] & PM_SOFT_DIRTY) != 0;
    visible += (ent[i] & PM_PRESENT) && (ent[i] & PM_PFN);
  }
  if (!pfn) {
    unsigned char *bm = calloc(n / 8 + 1, 1);
    if (!bm) { free(ent); return reply_error(ENOMEM, "bitmap"); }
    for (size_t i = 0; i < n; i++)
      if (ent[i] & PM_SOFT_DIRTY) bm[i >> 3] |= (unsigned char)(1u << (i & 7));
    probe_pagemap();
    of("{\"supported\":%s,\"pages\":%zu,\"count\":%zu,\"present\":%zu,\"bitmap\":", SD_SUPPORTED ? "true" : "false", n, dirty, present);
    ob64(bm, (n + 7) / 8);
    os("}");
    free(bm);
  } else {
    of("{\"pages\":%zu,\"present\":%zu,\"visible\":%s,", n, present, visible ? "true" : "false");
    if (enc && !strcmp(enc, "base64")) {
      for (size_t i = 0; i < n; i++) {  // in place: PFN (0 when not present), little endian
        uint64_t v = ent[i] & PM_PRESENT ? ent[i] & PM_PFN : 0;
        unsigned char *b = (unsigned char *)&ent[i];
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
      }
      os("\"pfn64\":");
      ob64((unsigned char *)ent, n * 8);
    } else {
      os("\"pfn\":[");
      oreserve(n * 21);
      for (size_t i = 0; i < n; i++) {
        if (ent[i] & PM_PRESENT) O.len += (size_t)sprintf(O.p + O.len, i ? ",%" PRIu64 : "%" PRIu64, (uint64_t)(ent[i] & PM_PFN));
        else O.len += (size_t)sprintf(O.p + O.len, i ? ",-1" : "-1");
      }
      os("]");
    }
    os("}");
  }
  free(ent);
  return 0;
}

static int op_referenced(void) {
  pid_t pid;
  uint64_t start = 0;
  int64_t pages = 0;
  if (get_pid("pid", &pid) < 0) return -1;
  int hs = get_addr("start", &start, 0);
  if (hs < 0) return -1;
  if (hs && get_int("pages", 0, MAX_PAGES * 64LL, &pages, 1) < 0) return -1;
  if (!hs && field("pages")) return reply_error(0, "\"pages\" needs \"start\"");
  if (check_unused("referenced") < 0) return -1;
  uint64_t lo = start, hi = hs ? start + (uint64_t)pages * PAGE : UINT64_MAX;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", pid);
  FILE *f = fopen(path, "re");
  if (!f) return reply_error(errno, "open %s", path);
  size_t cap = 256, n = 0;
  uint64_t *st = malloc(cap * 8), *sz = malloc(cap * 8), *rss = malloc(cap * 8), *ref = malloc(cap * 8);
  char *line = NULL;
  size_t lcap = 0;
  int in = 0;
  while (st && sz && rss && ref && getline(&line, &lcap, f) > 0) {
    unsigned long long a, b, v;
    if ((isdigit((unsigned char)line[0]) || (line[0] >= 'a' && line[0] <= 'f')) && sscanf(line, "%llx-%llx", &a, &b) == 2) {
      in = b > lo && a < hi;
      if (!in) continue;
      if (n == cap) {
        cap *= 2;
        st = realloc(st, cap * 8), sz = realloc(sz, cap * 8), rss = realloc(rss, cap * 8), ref = realloc(ref, cap * 8);
        if (!st || !sz || !rss || !ref) break;
      }
      st[n] = a, sz[n] = (b - a) / 1024, rss[n] = 0, ref[n] = 0;
      n++;
    } else if (in && n) {
      if (sscanf(line, "Rss: %llu kB", &v) == 1) rss[n - 1] = v;
      else if (sscanf(line, "Referenced: %llu kB", &v) == 1) ref[n - 1] = v;
    }
  }
  free(line);
  fclose(f);
  if (!st || !sz || !rss || !ref) { free(st); free(sz); free(rss); free(ref); return reply_error(ENOMEM, "smaps"); }
  os("{\"start\":[");
  for (size_t i = 0; i < n; i++) of(i ? ",\"0x%" PRIx64 "\"" : "\"0x%" PRIx64 "\"", st[i]);
  const char *names[] = {"sizeKb", "rssKb", "referencedKb"};
  uint64_t *cols[] = {sz, rss, ref};
  for (int c = 0; c < 3; c++) {
    of("],\"%s\":[", names[c]);
    for (size_t i = 0; i < n; i++) of(i ? ",%" PRIu64 : "%" PRIu64, cols[c][i]);
  }
  os("]}");
  free(st), free(sz), free(rss), free(ref);
  return 0;
}

// the TIDs of a process
static pid_t *tids_of(pid_t pid, size_t *n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR *d = opendir(path);
  if (!d) { if (errno == ENOENT) errno = ESRCH; return NULL; }
  size_t cap = 64;
  pid_t *t = malloc(cap * sizeof *t);
  *n = 0;
  struct dirent *e;
  while (t && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (*n == cap) { cap *= 2; pid_t *q = realloc(t, cap * sizeof *t); if (!q) { free(t); t = NULL; break; } t = q; }
    t[(*n)++] = (pid_t)atoi(e->d_name);
  }
  int err = errno;
  closedir(d);
  if (!t) errno = err ? err : ENOMEM;
  return t;
}

static int op_affinity(void) {
  int64_t tid = 0, *cpus;
  size_t ncpu;
  pid_t pid = 0;
  int ht = get_int("tid", 1, INT32_MAX, &tid, 0);
  if (ht < 0) return -1;
  struct field *fp = field("pid");
  if (fp) { fp->used = 0; if (get_pid("pid", &pid) < 0) return -1; }
  if (ht && fp) return reply_error(0, "give \"tid\" or \"pid\", not both");
  if (!ht && !fp) return reply_error(0, "missing field \"tid\" (or \"pid\" for every thread)");
  if (get_ints("cpus", 0, MAX_CPU - 1, &cpus, &ncpu, 1) < 0 || check_unused("affinity") < 0) return -1;
  if (!ncpu) return reply_error(0, "field \"cpus\" is empty");
  cpu_set_t *set = CPU_ALLOC(MAX_CPU);
  size_t setsz = CPU_ALLOC_SIZE(MAX_CPU);
  CPU_ZERO_S(setsz, set);
  for (size_t i = 0; i < ncpu; i++) CPU_SET_S((size_t)cpus[i], setsz, set);
  size_t nt = 1;
  pid_t one = (pid_t)tid, *tids = ht ? &one : tids_of(pid, &nt);
  if (!tids) { CPU_FREE(set); return reply_error(errno, "list threads of pid %d", pid); }
  os("{\"ok\":true,\"tids\":[");
  size_t done = 0;
  for (size_t i = 0; i < nt; i++) {
    if (sched_setaffinity(tids[i], setsz, set)) {
      int e = errno;
      if (!ht && e == ESRCH) continue;  // thread exited meanwhile
      if (!ht) free(tids);
      CPU_FREE(set);
      return reply_error(e, "sched_setaffinity(tid %d)", ht ? (int)tid : (int)tids[i]);
    }
    of(done++ ? ",%d" : "%d", (int)tids[i]);
  }
  os("]}");
  if (!ht) free(tids);
  CPU_FREE(set);
  return 0;
}

static int read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r, got = 0;
  while ((size_t)got < cap - 1 && (r = read(fd, buf + got, cap - 1 - (size_t)got)) > 0) got += r;
  int e = errno;
  close(fd);
  if (got < 0) { errno = e; return -1; }
  buf[got] = 0;
  return (int)got;
}
static void trim(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
}
static int op_where(void) {
  pid_t pid;
  if (get_pid("pid", &pid) < 0 || check_unused("where") < 0) return -1;
  size_t nt;
  pid_t *tids = tids_of(pid, &nt);
  if (!tids) return reply_error(errno, "list threads of pid %d", pid);
  os("{\"threads\":[");
  size_t done = 0;
  static char buf[65536];
  for (size_t i = 0; i < nt; i++) {
    char path[96], allowed[4096] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tids[i]);
    if (read_small(path, buf, sizeof buf) < 0) continue;  // exited
    char *c = strstr(buf, "\nCpus_allowed_list:");
    if (c) { c += 19; while (*c == ' ' || *c == '\t') c++; size_t k = strcspn(c, "\n"); if (k >= sizeof allowed) k = sizeof allowed - 1; memcpy(allowed, c, k); allowed[k] = 0; }
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tids[i]);
    if (read_small(path, buf, sizeof buf) < 0) continue;
    char *p = strrchr(buf, ')');
    if (!p) continue;
    // fields after ") ": 3 state … 14 utime 15 stime … 39 processor
    long long fv[40] = {0};
    char state = p[2];
    p += 3;
    for (int fi = 4; fi <= 39 && *p; fi++) {
      while (*p == ' ') p++;
      fv[fi] = strtoll(p, &p, 10);
    }
    of("%s{\"tid\":%d,\"cpu\":%lld,\"allowed\":", done++ ? "," : "", (int)tids[i], fv[39]);
    ostr(allowed);
    of(",\"state\":\"%c\",\"utime\":%lld,\"stime\":%lld}", state, fv[14], fv[15]);
  }
  os("]}");
  free(tids);
  if (!done) return reply_error(ESRCH, "no readable thread of pid %d", pid);
  return 0;
}

static int op_vmstat(void) {
  if (check_unused("vmstat") < 0) return -1;
  FILE *f = fopen("/proc/vmstat", "re");
  if (!f) return reply_error(errno, "open /proc/vmstat");
  char name[128];
  unsigned long long v;
  int n = 0;
  os("{");
  while (fscanf(f, "%127s %llu", name, &v) == 2) {
    if (strncmp(name, "numa_", 5) && strncmp(name, "pgmigrate_", 10) && strncmp(name, "pgpromote_", 10) && strncmp(name, "pgdemote_", 9)) continue;
    of("%s\"%s\":%llu", n++ ? "," : "", name, v);
  }
  fclose(f);
  os("}");
  return 0;
}

static int op_sysctl(void) {
  char *name, *value = NULL;
  if (get_str("name", &name, 1) < 0 || get_str("value", &value, 0) < 0 || check_unused("sysctl") < 0) return -1;
  size_t n = strlen(name);
  if (!n || n > 200 || name[0] == '.' || strstr(name, "..")) return reply_error(0, "bad sysctl name");
  char path[256] = "/proc/sys/";
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!(isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return reply_error(0, "bad sysctl name");
    path[10 + i] = c == '.' ? '/' : c;
  }
  path[10 + n] = 0;
  if (value && write_proc(path, value)) return reply_error(errno, "write %s", path);
  char buf[4096];
  if (read_small(path, buf, sizeof buf) < 0) return reply_error(errno, "read %s", path);
  trim(buf);
  os("{\"name\":");
  ostr(name);
  os(",\"value\":");
  ostr(buf);
  os("}");
  return 0;
}

static int op_nodes(void) {
  if (check_unused("nodes") < 0) return -1;
  char online[1024] = "", possible[1024] = "";
  if (read_small("/sys/devices/system/node/online", online, sizeof online) < 0) strcpy(online, "");
  if (read_small("/sys/devices/system/node/possible", possible, sizeof possible) < 0) strcpy(possible, "");
  trim(online), trim(possible);
  unsigned long mask[MASK_LONGS] = {0};
  long r = syscall(SYS_get_mempolicy, NULL, mask, (unsigned long)(MASK_LONGS * 64 + 1), NULL, (unsigned long)FTH_MPOL_F_MEMS_ALLOWED);
  if (r) return reply_error(errno, "get_mempolicy(MPOL_F_MEMS_ALLOWED)");
  os("{\"online\":");
  ostr(online);
  os(",\"possible\":");
  ostr(possible);
  os(",\"memsAllowed\":[");
  int k = 0;
  for (int i = 0; i < MASK_LONGS * 64; i++)
    if (mask[i / 64] >> (i % 64) & 1) of(k++ ? ",%d" : "%d", i);
  os("]}");
  return 0;
}

static int op_perf(void) {
  pid_t pid;
  int64_t ms;
  if (get_pid("pid", &pid) < 0 || get_int("ms", 0, 600000, &ms, 1) < 0 || check_unused("perf") < 0) return -1;
  static const struct { const char *name, *kind; uint32_t type; uint64_t config; } ev[] = {
      {"page-faults", "sw", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
      {"cpu-migrations", "sw", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
      {"context-switches", "sw", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
      {"task-clock", "sw", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
      {"cycles", "hw", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
      {"instructions", "hw", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
      {"cache-misses", "hw", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
  };
  enum { NEV = sizeof ev / sizeof ev[0] };
  size_t nt;
  pid_t *tids = tids_of(pid, &nt);
  if (!tids) return reply_error(errno, "list threads of pid %d", pid);
  int *fds = malloc(NEV * nt * sizeof(int)), err[NEV] = {0};
  if (!fds) { free(tids); return reply_error(ENOMEM, "perf"); }
  size_t opened[NEV] = {0};
  for (int e = 0; e < NEV; e++) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = ev[e].type;
    a.config = ev[e].config;
    a.disabled = 1;
    a.inherit = 1;  // threads created while counting are counted too
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    for (size_t t = 0; t < nt; t++) {
      int fd = (int)syscall(SYS_perf_event_open, &a, tids[t], -1, -1, PERF_FLAG_FD_CLOEXEC);
      if (fd < 0) {
        if (errno == ESRCH) continue;  // thread exited
        err[e] = errno;
        break;
      }
      fds[e * nt + opened[e]++] = fd;
    }
    if (err[e]) {
      for (size_t k = 0; k < opened[e]; k++) close(fds[e * nt + k]);
      opened[e] = 0;
    } else if (!opened[e]) err[e] = ESRCH;
  }
  for (int e = 0; e < NEV; e++)
    for (size_t k = 0; k < opened[e]; k++) ioctl(fds[e * nt + k], PERF_EVENT_IOC_ENABLE, 0);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) && errno == EINTR) {}
  for (int e = 0; e < NEV; e++)
    for (size_t k = 0; k < opened[e]; k++) ioctl(fds[e * nt + k], PERF_EVENT_IOC_DISABLE, 0);
  of("{\"ms\":%" PRId64 ",\"threads\":%zu,\"events\":[", ms, nt);
  for (int e = 0; e < NEV; e++) {
    of("%s{\"name\":\"%s\",\"kind\":\"%s\",", e ? "," : "", ev[e].name, ev[e].kind);
    if (err[e]) { of("\"supported\":false,\"error\":\"%s\"}", errname(err[e])); continue; }
    uint64_t val = 0, en = 0, run = 0;
    int rerr = 0;
    for (size_t k = 0; k < opened[e]; k++) {
      uint64_t b[3];
      if (read(fds[e * nt + k], b, sizeof b) != (ssize_t)sizeof b) { rerr = errno ? errno : EIO; }
      else val += b[0], en += b[1], run += b[2];
      close(fds[e * nt + k]);
    }
    if (rerr) of("\"supported\":false,\"error\":\"%s\"}", errname(rerr));
    else if (en > 0 && run == 0) os("\"supported\":false,\"error\":\"not counted (time_running 0)\"}");
    else if (run < en) of("\"supported\":true,\"value\":%.0f,\"scaled\":true}", (double)val * (double)en / (double)run);
    else of("\"supported\":true,\"value\":%" PRIu64 "}", val);
  }
  os("]}");
  free(fds);
  free(tids);
  return 0;
}

static int op_features(void) {
  if (check_unused("features") < 0) return -1;
  probe_pagemap();
  char nb[64];
  int hb = read_small("/proc/sys/kernel/numa_balancing", nb, sizeof nb) >= 0;
  if (hb) trim(nb);
  of("{\"softDirty\":%s,\"pfnVisible\":%s,\"numaBalancing\":", SD_SUPPORTED ? "true" : "false", PFN_VISIBLE ? "true" : "false");
  if (hb) ostr(nb); else os("null");
  os("}");
  return 0;
}

static int op_ping(void) {
  if (check_unused("ping") < 0) return -1;
  of("{\"ok\":true,\"version\":1,\"pid\":%d}", (int)getpid());
  return 0;
}

static void handle(char *line) {
  O.len = 0;
  if (parse_request(line) < 0) {
    reply_error(0, "malformed request: %s", PERR ? PERR : "?");
    free_fields();
    return;
  }
  char *op;
  if (get_str("op", &op, 1) < 0) { free_fields(); return; }
  if (!strcmp(op, "ping")) op_ping();
  else if (!strcmp(op, "nodes")) op_nodes();
  else if (!strcmp(op, "features")) op_features();
  else if (!strcmp(op, "query")) op_query_move(0);
  else if (!strcmp(op, "move")) op_query_move(1);
  else if (!strcmp(op, "migrate")) op_migrate();
  else if (!strcmp(op, "softdirty-clear")) op_clear_refs(op, "4");
  else if (!strcmp(op, "refs-clear")) op_clear_refs(op, "1");
  else if (!strcmp(op, "softdirty")) op_pagemap(0);
  else if (!strcmp(op, "pfn")) op_pagemap(1);
  else if (!strcmp(op, "referenced")) op_referenced();
  else if (!strcmp(op, "affinity")) op_affinity();
  else if (!strcmp(op, "where")) op_where();
  else if (!strcmp(op, "vmstat")) op_vmstat();
  else if (!strcmp(op, "sysctl")) op_sysctl();
  else if (!strcmp(op, "perf")) op_perf();
  else reply_error(0, "unknown op \"%s\"", op);
  free_fields();
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fputs("usage: fth-numa   (JSON requests on stdin, one per line; see the head of numactl-helper.c)\n", stderr);
    return 2;
  }
  char *line = malloc(MAX_LINE + 1), rbuf[1 << 16];
  if (!line) return 3;
  size_t len = 0;
  int overflow = 0;
  for (;;) {
    ssize_t r = read(0, rbuf, sizeof rbuf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r;) {
      char *nl = memchr(rbuf + i, '\n', (size_t)(r - i));
      size_t k = nl ? (size_t)(nl - (rbuf + i)) : (size_t)(r - i);
      if (!overflow) {
        if (len + k > MAX_LINE) overflow = 1;
        else { memcpy(line + len, rbuf + i, k); len += k; }
      }
      i += (ssize_t)k;
      if (!nl) break;
      i++;
      if (overflow) {
        O.len = 0;
        reply_error(0, "request longer than %u bytes", MAX_LINE);
        oflush();
      } else {
        line[len] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (*s) { handle(line); oflush(); }
      }
      len = 0, overflow = 0;
    }
  }
  if (len && !overflow) {  // last line without newline
    line[len] = 0;
    handle(line);
    oflush();
  }
  return 0;
}
