// json_tape.h: a one-pass JSON tokenizer that writes a flat tape of tokens.
//
// The tape is what makes the JSON fast path fast: C validates and tokenizes a frame in one pass
// (numbers are converted to doubles as they are met), and the compiled Lua pipeline reads only
// the fields its expressions name, through FFI, without building a Lua table per message.
//
// Layout: a container token is followed by its children. An object's children are pairs (key
// token, value subtree). Every token records `next`, the index just past its subtree, so a
// reader can skip a value without walking it. All functions here are leaves: no Lua, no
// allocation, safe to call from JIT-compiled code.
#ifndef FH_JSON_TAPE_H
#define FH_JSON_TAPE_H

#include <stddef.h>
#include <stdint.h>

// FFI:BEGIN
enum {
  FH_J_OBJ = 1,
  FH_J_ARR = 2,
  FH_J_STR = 3,
  FH_J_NUM = 4,
  FH_J_TRUE = 5,
  FH_J_FALSE = 6,
  FH_J_NULL = 7,
};

// token flags
enum {
  FH_JF_ESC = 1,  // string: contains escapes (needs fh_json_unescape)
  FH_JF_INT = 2,  // number: written without fraction or exponent
};

typedef struct fh_jtok {
  uint8_t type;
  uint8_t flags;
  uint16_t depth;
  uint32_t start;  // string: first content byte (after the quote); number: first char
  uint32_t len;    // string: content bytes; number: text length; container: child count
  uint32_t next;   // index of the first token after this subtree
  double num;      // number value (correctly rounded)
} fh_jtok;

enum {
  FH_JSON_ESYNTAX = -1,  // malformed input; *err_off says where
  FH_JSON_ENOSPACE = -2, // more than `cap` tokens: retry with a bigger tape
  FH_JSON_EDEPTH = -3,   // nesting deeper than FH_JSON_MAX_DEPTH
  FH_JSON_ETOOBIG = -4,  // input longer than 4 GiB
};
enum { FH_JSON_MAX_DEPTH = 512 };
// FFI:END

/// Tokenizes `len` bytes of `buf` (one JSON text, surrounding white space allowed). A number of
/// 512 characters or more is refused as FH_JSON_ESYNTAX; 1e400 reads as inf, as strtod reads it.
/// @return the number of tokens written (root is token 0), or an FH_JSON_E* code; on
///         FH_JSON_ESYNTAX `*err_off` is the byte offset of the first bad byte.
int fh_json_parse(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off);

/// Finds member `key` of object token `obj`. @return the value's token index, or -1.
int fh_json_find(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen);

/// Whether member `key` of object `obj` is a string equal to `lit` (escapes decoded).
int fh_json_eq(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen,
               const char *lit, size_t litlen);

/// The `i`-th (0-based) element of array token `arr`. @return token index, or -1.
int fh_json_index(const fh_jtok *tape, int arr, int i);

/// Whether string token `tok` equals `lit` (escapes decoded); 0 for any other token.
int fh_json_str_eq(const fh_jtok *tape, const char *buf, int tok, const char *lit, size_t litlen);

// A set of member names, each with a slot: fh_json_keys looks up every member of an object in
// one pass and writes the value token of each name of the set into its slot. The compiled
// pipeline reads all the members of a message it needs through one call instead of one search
// per member.
// FFI:BEGIN
enum {
  FH_KEYSET_MAX = 64,      // names
  FH_KEYSET_BUCKETS = 256, // hash buckets (a power of two, well above FH_KEYSET_MAX)
  FH_KEYSET_POOL = 2048,   // bytes of all names
  FH_KEYSET_MAXLEN = 64,   // longest name
};

typedef struct fh_keyset {
  int32_t n;                           // names in the set (slots 0 .. n-1)
  uint32_t used;                       // bytes of pool in use
  uint32_t tag[FH_KEYSET_BUCKETS];     // length, first, middle and last byte of the bucket's name
  uint8_t bucket[FH_KEYSET_BUCKETS];   // slot + 1, or 0 for an empty bucket
  uint16_t off[FH_KEYSET_MAX];         // name of each slot: pool offset and length
  uint8_t len[FH_KEYSET_MAX];
  char pool[FH_KEYSET_POOL];
} fh_keyset;
// FFI:END

/// Adds `key` to the set (zeroed memory is an empty set). @return its slot (an existing one if
/// present), or -1 when the set is full or the name too long (look it up with fh_json_find).
int fh_keyset_add(fh_keyset *ks, const char *key, size_t klen);

/// For every name of `ks`, the value token of that member of object `obj` (the first one, as
/// fh_json_find) into slots[slot], or -1 when absent or when `obj` is not an object.
void fh_json_keys(const fh_jtok *tape, const char *buf, int obj, const fh_keyset *ks,
                  int32_t *slots);

// The date of the last ISO timestamp read through fh_json_ts, so the next one of the same day
// only parses its time of day (zeroed memory is an empty cache).
// FFI:BEGIN
typedef struct fh_ts_cache {
  int64_t midnight;  // epoch ns of the date's midnight (UTC)
  char date[10];     // YYYY-MM-DD
  uint8_t valid;
  uint8_t pad[5];
} fh_ts_cache;
// FFI:END

/// fh_ts_iso of string token `tok` (no escapes), straight from the frame; or an integer number
/// token as epoch ns, exactly, in the unit its digits imply (up to 11 digits: seconds, 14: ms,
/// 17: us, more: ns). @return 0 and *out, or -1 when the token is neither or it is declined
/// (the caller's slower path decides). Same results as fh_ts_iso; `2021-02-22T15:51:44.208Z`
/// forms of the cached date take a shorter path.
int fh_json_ts(const fh_jtok *tape, const char *buf, int tok, fh_ts_cache *cache, int64_t *out);

/// Unescapes string token contents into `dst` (room for `len` bytes always suffices).
/// @return bytes written, or -1 on a bad escape.
int fh_json_unescape(const char *src, size_t len, char *dst);

/// Short human-readable name of an error code.
const char *fh_json_strerror(int code);

#endif
