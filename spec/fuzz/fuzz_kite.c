// fuzz_kite.c: registry/kite.lua's kite_decode (through lua/feedhost/bytes.lua) on arbitrary
// bytes, in an embedded LuaJIT, through an FFI pointer and a length as the pipeline calls it.
//
// LuaJIT's loads are not instrumented by ASan, so the frame is placed against a page the
// process may not touch: ending right before it (a read past `len` faults) and starting right
// after it (a read before the frame faults). The decoder must return a list of packets or nil
// and a message; raising is reported too (a registry function returns its errors). Each packet
// is checked against the frame: kinds by length, fields finite numbers.
//
// Lua code gives libFuzzer no coverage of its own: one state runs the decoder interpreted (JIT
// off) under a line hook that bumps libFuzzer's extra counters by (previous line, line), so the
// fuzzer sees which paths of kite.lua / bytes.lua an input takes; a second state runs it as
// production does, JIT on, so compiled traces read the frame too.
#define _DEFAULT_SOURCE  // MAP_ANONYMOUS
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FH_SOURCE_DIR
#error "build with -DFH_SOURCE_DIR=\"<worktree>\""
#endif

// libFuzzer reads this section as extra coverage counters
enum { NCOUNTERS = 4096 };
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t counters[NCOUNTERS];

enum { AREA = 1 << 20 };  // the longest frame placed against a guard page

static uint8_t *tail_area;  // AREA bytes, then a PROT_NONE page
static uint8_t *head_area;  // a PROT_NONE page, then AREA bytes

// Runs in Lua: checks one decoded frame. Arguments: the frame as a string, the results of
// the wrapper (pcall's status, then kite_decode's results). Raises on anything wrong.
static const char CHECK_LUA[] =
  "local frame, ok, pk, err = ...\n"
  "if not ok then error('kite_decode raised: ' .. tostring(pk), 0) end\n"
  "if pk == nil then\n"
  "  assert(type(err) == 'string' and err:match('^kite: '), 'nil without a kite: message')\n"
  "  return\n"
  "end\n"
  "assert(type(pk) == 'table', 'not a table')\n"
  "local n = #frame >= 2 and frame:byte(1) * 256 + frame:byte(2) or 0\n"
  "assert(#pk <= n, 'more packets than the frame counts')\n"
  "local kinds = { ltp = 8, index_quote = 28, index_full = 32, quote = 44, full = 184 }\n"
  "local function num(v, what)\n"
  "  assert(type(v) == 'number' and v == v and v ~= math.huge and v ~= -math.huge, what)\n"
  "end\n"
  "for _, p in ipairs(pk) do\n"
  "  assert(kinds[p.kind], 'unknown kind')\n"
  "  num(p.token, 'token') num(p.ltp, 'ltp')\n"
  "  assert(p.token >= 0 and p.token < 2^32, 'token range')\n"
  "  if p.depth then\n"
  "    assert(#p.depth.bids == 5 and #p.depth.asks == 5, 'depth')\n"
  "    for _, side in ipairs({ p.depth.bids, p.depth.asks }) do\n"
  "      for _, e in ipairs(side) do num(e.qty, 'qty') num(e.price, 'price') num(e.orders, 'orders') end\n"
  "    end\n"
  "  end\n"
  "end\n";

typedef struct vm {
  lua_State *L;
  int decode_ref;  // function(addr, len) -> pcall(kite_decode, ...)
  int check_ref;   // function(frame, ok, pk, err): raises when the results are wrong
} vm;

static vm interp;  // JIT off, line hook feeding `counters`
static vm jit;     // as production runs it

// Builds the decoder wrapper. Arguments: the worktree, the counters (or nil for no hook).
static const char SETUP_LUA[] =
  "local root, counters = ...\n"
  "package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. root .. '/?.lua;'\n"
  "  .. package.path\n"
  "local ffi = require 'ffi'\n"
  "local decode = require('registry.kite').kite_decode\n"
  "local u8p = ffi.typeof('const uint8_t *')\n"
  "if not counters then\n"
  "  return function(addr, len) return pcall(decode, ffi.cast(u8p, addr), len, {}) end\n"
  "end\n"
  "jit.off()\n"
  "local c = ffi.cast('uint8_t *', counters)\n"
  "local prev = 0\n"
  "local function hook(_, line)\n"
  "  local i = (prev * 31 + line) % " "4096" "\n"
  "  if c[i] < 255 then c[i] = c[i] + 1 end\n"
  "  prev = line\n"
  "end\n"
  "local sethook = debug.sethook\n"
  "return function(addr, len)\n"
  "  prev = 0\n"
  "  sethook(hook, 'l')\n"
  "  local ok, pk, err = pcall(decode, ffi.cast(u8p, addr), len, {})\n"
  "  sethook()\n"
  "  return ok, pk, err\n"
  "end\n";

static int load(lua_State *L, const char *src, const char *name)
{
  if (luaL_loadbuffer(L, src, strlen(src), name) != 0) {  // [chunk]
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    abort();
  }
  return 1;
}

static void vm_open(vm *v, void *hook_counters)
{
  lua_State *L = luaL_newstate();
  FZ_CHECK(L != NULL);
  luaL_openlibs(L);
  load(L, SETUP_LUA, "=fuzz_kite");           // [setup]
  lua_pushstring(L, FH_SOURCE_DIR);           // [setup, root]
  if (hook_counters) {
    lua_pushlightuserdata(L, hook_counters);  // [setup, root, counters]
  } else {
    lua_pushnil(L);                           // [setup, root, nil]
  }
  if (lua_pcall(L, 2, 1, 0) != 0) {           // [decode]
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    abort();
  }
  v->decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);  // []
  load(L, CHECK_LUA, "=kite_check");               // [check]
  v->check_ref = luaL_ref(L, LUA_REGISTRYINDEX);   // []
  v->L = L;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  _Static_assert(NCOUNTERS == 4096, "SETUP_LUA's hook folds indices by 4096");
  long page = sysconf(_SC_PAGESIZE);
  uint8_t *a = mmap(NULL, AREA + (size_t)page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t *b = mmap(NULL, AREA + (size_t)page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FZ_CHECK(a != MAP_FAILED && b != MAP_FAILED);
  FZ_CHECK(mprotect(a + AREA, (size_t)page, PROT_NONE) == 0);
  FZ_CHECK(mprotect(b, (size_t)page, PROT_NONE) == 0);
  tail_area = a;
  head_area = b + page;
  vm_open(&interp, counters);
  vm_open(&jit, NULL);
  return 0;
}

// Decodes the frame at p (a copy of data) in `v` and checks the results.
static void run(const vm *v, const uint8_t *p, const uint8_t *data, size_t size)
{
  lua_State *L = v->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, v->check_ref);   // [check]
  lua_pushlstring(L, (const char *)data, size);      // [check, frame]
  lua_rawgeti(L, LUA_REGISTRYINDEX, v->decode_ref);  // [check, frame, decode]
  lua_pushlightuserdata(L, (void *)p);               // [check, frame, decode, p]
  lua_pushnumber(L, (lua_Number)size);               // [check, frame, decode, p, len]
  FZ_CHECK(lua_pcall(L, 2, 3, 0) == 0);              // [check, frame, ok, pk, err]
  if (lua_pcall(L, 4, 0, 0) != 0) {                  // [msg]
    fprintf(stderr, "kite_decode: %s\n", lua_tostring(L, -1));
    abort();
  }
  FZ_CHECK(lua_gettop(L) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > AREA) {
    return 0;
  }
  uint8_t *tail = tail_area + AREA - size;
  memcpy(tail, data, size);
  memcpy(head_area, data, size);
  run(&interp, tail, data, size);
  run(&jit, tail, data, size);
  run(&jit, head_area, data, size);
  return 0;
}
