/*
 * pheap_native: the smallest possible N-API addon that gives the persistent heap a REAL memory
 * mapping of a PMEM region (a /dev/pmemN block device, a file on a DAX filesystem, or a plain
 * file), so the heap's base address is a genuine virtual address chosen by the kernel and the
 * pointers stored in the heap are genuine absolute pointers.
 *
 * Plain C against <node_api.h> (no node-addon-api, no C++): N-API is ABI-stable, so the same
 * .node built on the host loads in the guest's Node 20 as long as arch and libc match.
 *
 * Exports:
 *   map(path, length, hint?)      -> { buffer: ArrayBuffer, base: bigint, length, mapSync }
 *   unmap(buffer)                 -> undefined (detaches the ArrayBuffer, then munmap)
 *   persist(buffer, off, len)     -> undefined (msync MS_SYNC of the covering pages)
 *   regionSize(path)              -> number (BLKGETSIZE64 for block devices, st_size otherwise)
 *   addressOf(arrayBuffer)        -> bigint (address of its first byte; benchmark only)
 *   sumTreeAbs(buffer, rootOff, leftOff, rightOff, valOff) -> [sum: bigint, nodes: number]
 *   sumTreeRel(buffer, rootOff, leftOff, rightOff, valOff) -> [sum: bigint, nodes: number]
 *   The two sumTree* functions exist only for the swizzle benchmark: the same DFS over a binary
 *   tree, once dereferencing absolute pointers directly (what swizzling buys) and once
 *   resolving base-relative offsets on every dereference (PMDK PMEMoid / based-pointer style).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

/* One live mapping. The ArrayBuffer's finalizer and unmap() share it so the region is
 * unmapped exactly once, whichever comes first. */
typedef struct mapping {
  void *addr;
  size_t len;
  int unmapped;
  struct mapping *next;
} mapping;

static mapping *live = NULL; /* JS is single-threaded per env; the list is tiny. */

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "EPHEAPNATIVE", "N-API call failed: " #call); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, const char *path) {
  char msg[4700];
  snprintf(msg, sizeof msg, "%s(%s): %s", what, path ? path : "", strerror(errno));
  napi_throw_error(env, "EPHEAPNATIVE", msg);
  return NULL;
}

static int fd_size(int fd, uint64_t *out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  if (S_ISBLK(st.st_mode)) {
    uint64_t sz = 0;
    if (ioctl(fd, BLKGETSIZE64, &sz) != 0) return -1;
    *out = sz;
  } else {
    *out = (uint64_t)st.st_size;
  }
  return 0;
}

static void unlink_mapping(mapping *m) {
  mapping **pp = &live;
  while (*pp) {
    if (*pp == m) { *pp = m->next; return; }
    pp = &(*pp)->next;
  }
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env; (void)data;
  mapping *m = (mapping *)hint;
  if (!m->unmapped) { munmap(m->addr, m->len); m->unmapped = 1; }
  unlink_mapping(m);
  free(m);
}

static int get_string(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t n = 0;
  return napi_get_value_string_utf8(env, v, buf, cap, &n) == napi_ok && n < cap - 1;
}

static napi_value js_region_size(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; char path[4096];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_string(env, argv[0], path, sizeof path)) {
    napi_throw_type_error(env, NULL, "regionSize(path)"); return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", path);
  uint64_t sz = 0;
  int rc = fd_size(fd, &sz);
  close(fd);
  if (rc != 0) return throw_errno(env, "size", path);
  napi_value out; CHECK(napi_create_double(env, (double)sz, &out));
  return out;
}

static napi_value js_map(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3]; char path[4096];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_string(env, argv[0], path, sizeof path)) {
    napi_throw_type_error(env, NULL, "map(path, length, hint?)"); return NULL;
  }
  double dlen = 0; CHECK(napi_get_value_double(env, argv[1], &dlen));
  uint64_t hint = 0;
  if (argc >= 3) {
    napi_valuetype t; CHECK(napi_typeof(env, argv[2], &t));
    if (t == napi_bigint) { bool lossless; CHECK(napi_get_value_bigint_uint64(env, argv[2], &hint, &lossless)); }
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", path);
  uint64_t size = 0;
  if (fd_size(fd, &size) != 0) { int e = errno; close(fd); errno = e; return throw_errno(env, "size", path); }
  size_t len = dlen > 0 ? (size_t)dlen : (size_t)size;
  if (len == 0 || len > size) {
    close(fd);
    napi_throw_range_error(env, NULL, "map: length is 0 or larger than the region");
    return NULL;
  }
  /* MAP_SYNC (DAX only) guarantees that metadata is durable when a store is flushed; on
   * anything else the kernel answers EOPNOTSUPP/EINVAL and we fall back to MAP_SHARED, where
   * msync provides durability. */
  int map_sync = 1;
  void *addr = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
                    MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
  if (addr == MAP_FAILED) {
    map_sync = 0;
    addr = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) { errno = e; return throw_errno(env, "mmap", path); }

  mapping *m = (mapping *)calloc(1, sizeof *m);
  if (!m) { munmap(addr, len); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  m->addr = addr; m->len = len; m->next = live; live = m;

  napi_value ab, base, jlen, jsync, out;
  if (napi_create_external_arraybuffer(env, addr, len, finalize_mapping, m, &ab) != napi_ok) {
    unlink_mapping(m); munmap(addr, len); free(m);
    napi_throw_error(env, "EPHEAPNATIVE", "napi_create_external_arraybuffer failed");
    return NULL;
  }
  CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)addr, &base));
  CHECK(napi_create_double(env, (double)len, &jlen));
  CHECK(napi_get_boolean(env, map_sync, &jsync));
  CHECK(napi_create_object(env, &out));
  CHECK(napi_set_named_property(env, out, "buffer", ab));
  CHECK(napi_set_named_property(env, out, "base", base));
  CHECK(napi_set_named_property(env, out, "length", jlen));
  CHECK(napi_set_named_property(env, out, "mapSync", jsync));
  return out;
}

static mapping *find_mapping(napi_env env, napi_value ab) {
  void *data = NULL; size_t len = 0;
  if (napi_get_arraybuffer_info(env, ab, &data, &len) != napi_ok) return NULL;
  for (mapping *m = live; m; m = m->next)
    if (m->addr == data && !m->unmapped) return m;
  return NULL;
}

static napi_value js_unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  mapping *m = argc ? find_mapping(env, argv[0]) : NULL;
  if (!m) { napi_throw_error(env, "EPHEAPNATIVE", "unmap: not a live pheap mapping"); return NULL; }
  /* Detach first: any later JS access sees a zero-length buffer instead of a SIGSEGV. */
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  munmap(m->addr, m->len);
  m->unmapped = 1;
  return NULL;
}

static napi_value js_persist(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  mapping *m = argc ? find_mapping(env, argv[0]) : NULL;
  if (!m) { napi_throw_error(env, "EPHEAPNATIVE", "persist: not a live pheap mapping"); return NULL; }
  double doff = 0, dlen = (double)m->len;
  if (argc >= 2) CHECK(napi_get_value_double(env, argv[1], &doff));
  if (argc >= 3) CHECK(napi_get_value_double(env, argv[2], &dlen));
  if (doff < 0 || dlen < 0 || doff + dlen > (double)m->len) {
    napi_throw_range_error(env, NULL, "persist: range outside the mapping"); return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t start = (uintptr_t)m->addr + (uintptr_t)doff;
  uintptr_t end = start + (uintptr_t)dlen;
  start &= ~(uintptr_t)(page - 1);
  if (end > start && msync((void *)start, end - start, MS_SYNC) != 0) return throw_errno(env, "msync", NULL);
  return NULL;
}

/* ---- benchmark helpers: same DFS, two ways of dereferencing ---- */

static int tree_args(napi_env env, napi_callback_info info, uint8_t **base, size_t *len, double *o) {
  size_t argc = 5; napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return 0;
  void *data;
  if (napi_get_arraybuffer_info(env, argv[0], &data, len) != napi_ok) return 0;
  *base = (uint8_t *)data;
  for (int i = 0; i < 4; i++)
    if (napi_get_value_double(env, argv[i + 1], &o[i]) != napi_ok) return 0;
  return 1;
}

static napi_value tree_result(napi_env env, uint64_t sum, uint64_t nodes) {
  napi_value arr, s, n;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  CHECK(napi_create_bigint_uint64(env, sum, &s));
  CHECK(napi_create_double(env, (double)nodes, &n));
  CHECK(napi_set_element(env, arr, 0, s));
  CHECK(napi_set_element(env, arr, 1, n));
  return arr;
}

/* mode 0: fields hold absolute pointers valid in this mapping (dereferenced as-is);
 * mode 1: fields hold offsets from the region base (base + off on every dereference).
 * The base is read through a volatile global so the compiler cannot hoist it into a register
 * for the whole loop more aggressively than pmemobj_direct() would in a real program. */
static volatile uintptr_t g_base;

static napi_value sum_tree(napi_env env, napi_callback_info info, int mode) {
  uint8_t *base; size_t len; double o[4];
  if (!tree_args(env, info, &base, &len, o)) {
    napi_throw_type_error(env, NULL, "sumTree(buffer, rootOff, leftOff, rightOff, valOff)"); return NULL;
  }
  size_t lo = (size_t)o[1], ro = (size_t)o[2], vo = (size_t)o[3];
  g_base = (uintptr_t)base;
  size_t cap = 1 << 16, sp = 0;
  uintptr_t *stack = (uintptr_t *)malloc(cap * sizeof *stack);
  if (!stack) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  uint64_t sum = 0, nodes = 0;
  uintptr_t root = (uintptr_t)base + (uintptr_t)o[0];
  stack[sp++] = root;
  while (sp) {
    uint8_t *n = (uint8_t *)stack[--sp];
    nodes++;
    sum += *(uint64_t *)(n + vo);
    uint64_t l = *(uint64_t *)(n + lo), r = *(uint64_t *)(n + ro);
    if (sp + 2 > cap) {
      cap *= 2;
      uintptr_t *ns = (uintptr_t *)realloc(stack, cap * sizeof *stack);
      if (!ns) { free(stack); napi_throw_error(env, NULL, "out of memory"); return NULL; }
      stack = ns;
    }
    if (mode == 0) {
      if (r) stack[sp++] = (uintptr_t)r;
      if (l) stack[sp++] = (uintptr_t)l;
    } else {
      if (r) stack[sp++] = g_base + (uintptr_t)r;
      if (l) stack[sp++] = g_base + (uintptr_t)l;
    }
  }
  free(stack);
  (void)len;
  return tree_result(env, sum, nodes);
}

static napi_value js_sum_tree_abs(napi_env env, napi_callback_info info) { return sum_tree(env, info, 0); }
static napi_value js_sum_tree_rel(napi_env env, napi_callback_info info) { return sum_tree(env, info, 1); }

/* Address of an ArrayBuffer's data: lets the benchmark swizzle an in-memory copy of a heap to
 * the copy's own address, so both traversal styles run over the same kind of memory. */
static napi_value js_address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; void *data = NULL; size_t len = 0; napi_value out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "addressOf(arrayBuffer)"); return NULL;
  }
  CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)data, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"map", NULL, js_map, NULL, NULL, NULL, napi_default, NULL},
    {"unmap", NULL, js_unmap, NULL, NULL, NULL, napi_default, NULL},
    {"persist", NULL, js_persist, NULL, NULL, NULL, napi_default, NULL},
    {"regionSize", NULL, js_region_size, NULL, NULL, NULL, napi_default, NULL},
    {"addressOf", NULL, js_address_of, NULL, NULL, NULL, napi_default, NULL},
    {"sumTreeAbs", NULL, js_sum_tree_abs, NULL, NULL, NULL, napi_default, NULL},
    {"sumTreeRel", NULL, js_sum_tree_rel, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
