// C unit tests for the JSON tape and the batch (run by ctest).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/batch.h"
#include "codec/json_tape.h"

static int failures;
#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

static fh_jtok tape[256];

static int parse(const char *s)
{
  int off = -1;
  return fh_json_parse(s, strlen(s), tape, 256, &off);
}

static void test_structure(void)
{
  const char *s = "[{\"T\":\"t\",\"p\":126.55,\"s\":1,\"c\":[\"@\",\"I\"]},{\"T\":\"q\"}]";
  int n = parse(s);
  CHECK(n == 15);
  CHECK(tape[0].type == FH_J_ARR && tape[0].len == 2 && tape[0].next == 15);
  CHECK(tape[1].type == FH_J_OBJ && tape[1].len == 4);
  int p = fh_json_find(tape, s, 1, "p", 1);
  CHECK(p > 0 && tape[p].type == FH_J_NUM && tape[p].num == 126.55);
  int c = fh_json_find(tape, s, 1, "c", 1);
  CHECK(c > 0 && tape[c].type == FH_J_ARR && tape[c].len == 2);
  int i1 = fh_json_index(tape, c, 1);
  CHECK(i1 > 0 && tape[i1].type == FH_J_STR && tape[i1].len == 1 && s[tape[i1].start] == 'I');
  CHECK(fh_json_find(tape, s, 1, "zz", 2) == -1);
  int second = fh_json_index(tape, 0, 1);
  CHECK(second == (int)tape[1].next);
  CHECK(fh_json_find(tape, s, second, "T", 1) == second + 2);
  CHECK(fh_json_index(tape, 0, 2) == -1);
}

static void test_numbers(void)
{
  struct { const char *text; double v; } cases[] = {
    { "0", 0 }, { "-0.5", -0.5 }, { "126.55", 126.55 }, { "1e-7", 1e-7 }, { "1E+2", 100 },
    { "9007199254740993", 9007199254740993.0 }, { "0.1", 0.1 },
    { "123456789012345678901234567890", 1.2345678901234568e29 },
    { "2.2250738585072014e-308", 2.2250738585072014e-308 }, { "1613.5e3", 1613500 },
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    CHECK(parse(cases[k].text) == 1);
    CHECK(tape[0].type == FH_J_NUM);
    if (tape[0].num != cases[k].v) {
      fprintf(stderr, "number %s -> %.17g\n", cases[k].text, tape[0].num);
      failures++;
    }
  }
  CHECK(parse("12") == 1 && (tape[0].flags & FH_JF_INT));
  CHECK(parse("12.0") == 1 && !(tape[0].flags & FH_JF_INT));
}

static void test_errors(void)
{
  const char *bad[] = { "", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "[1 2]",
                        "\"abc", "\"a\\x\"", "tru", "{\"a\":1}x", "[\"\x01\"]", "{1:2}", "nul" };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    int n = parse(bad[k]);
    if (n != FH_JSON_ESYNTAX) {
      fprintf(stderr, "accepted bad JSON %s (%d)\n", bad[k], n);
      failures++;
    }
  }
  CHECK(parse(" {} ") == 1 && tape[0].len == 0);
  CHECK(parse("[[]]") == 2);
  int off = 0;
  CHECK(fh_json_parse("[1,2,3]", 7, tape, 2, &off) == FH_JSON_ENOSPACE);
}

static void test_unescape(void)
{
  const char *s = "\"a\\\"b\\u00e9\\ud83d\\ude00\\n\"";
  CHECK(parse(s) == 1 && (tape[0].flags & FH_JF_ESC));
  char out[64];
  int n = fh_json_unescape(s + tape[0].start, tape[0].len, out);
  CHECK(n == 10 && memcmp(out, "a\"b\xc3\xa9\xf0\x9f\x98\x80\n", 10) == 0);
  const char *k = "{\"\\u0053\":5}";
  CHECK(parse(k) == 3 && fh_json_find(tape, k, 0, "S", 1) == 2);
}

static void test_batch(void)
{
  fh_batch *b = fh_batch_new(4, 1);
  CHECK(b != NULL);
  for (int i = 0; i < 100; i++) {
    CHECK(fh_batch_push(b, 1, FH_FRAME_TEXT, i, "hello", 5) == 0);
  }
  CHECK(b->n == 100 && b->used == 500 && b->frames[99].off == 495 && b->frames[99].ts == 99);
  CHECK(fh_batch_push_base64(b, 2, FH_FRAME_BINARY, 0, "AAEAAgM=", 8) == 0);
  CHECK(b->frames[100].len == 5 && memcmp(b->buf + b->frames[100].off, "\0\1\0\2\3", 5) == 0);
  CHECK(fh_batch_push_base64(b, 2, FH_FRAME_BINARY, 0, "A$==", 4) == -2);
  CHECK(fh_batch_push_json_string(b, 1, FH_FRAME_TEXT, 0, "x\\ty", 4) == 0);
  CHECK(b->frames[b->n - 1].len == 3);
  char enc[16];
  CHECK(fh_base64_encode((const uint8_t *)"\0\1\0\2\3", 5, enc) == 8 && memcmp(enc, "AAEAAgM=", 8) == 0);
  fh_batch_clear(b);
  CHECK(b->n == 0 && b->used == 0);
  fh_batch_free(b);
}

int main(void)
{
  test_structure();
  test_numbers();
  test_errors();
  test_unescape();
  test_batch();
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("json_tape: all checks passed\n");
  return 0;
}
