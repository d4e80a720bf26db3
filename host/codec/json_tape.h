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
#define FH_JSON_MAX_DEPTH 512

/// Tokenizes `len` bytes of `buf` (one JSON text, surrounding white space allowed).
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

/// Unescapes string token contents into `dst` (room for `len` bytes always suffices).
/// @return bytes written, or -1 on a bad escape.
int fh_json_unescape(const char *src, size_t len, char *dst);

/// Short human-readable name of an error code.
const char *fh_json_strerror(int code);

#endif
