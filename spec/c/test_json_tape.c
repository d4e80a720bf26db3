// C unit tests for the JSON tape and the batch (run by ctest).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/batch.h"
#include "codec/json_tape.h"
#include "codec/ts.h"

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

  // a number of 512 characters or more is refused, whichever path would read it (the scan
  // stops there: no count grows with the input); 511 characters still read
  static char num[700];
  const char *heads[] = { "0e", "1e-", "0.", "1", "-0.0e+" };
  for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
    for (size_t n = 510; n <= 513; n++) {
      memset(num, '0', n);
      memcpy(num, heads[k], strlen(heads[k]));
      num[n - 1] = '1';
      int r = fh_json_parse(num, n, tape, 256, &off);
      if (n < 512 ? r != 1 : r != FH_JSON_ESYNTAX) {
        fprintf(stderr, "number %s... of %zu characters: %d\n", heads[k], n, r);
        failures++;
      }
    }
  }
  memset(num, '0', 600);
  memcpy(num, "[0e", 3);
  memcpy(num + 598, "1]", 2);
  CHECK(fh_json_parse(num, 600, tape, 256, &off) == FH_JSON_ESYNTAX && off == 513);
}

// error offsets: the first bad byte (what the pipeline logs as "at byte N")
static void test_error_offsets(void)
{
  struct { const char *text; int off; } cases[] = {
    { "", 0 }, { "[", 1 }, { "[1,]", 3 }, { "{\"a\":1,}", 7 }, { "{\"a\" 1}", 5 }, { "01", 1 },
    { "1.", 2 }, { "\"abc", 4 }, { "\"a\\x\"", 3 }, { "{\"a\":1}x", 7 }, { "[\"\x01\"]", 2 },
    { " [ 1 , ", 7 }, { "{\"a\":1 \"b\":2}", 7 }, { "[\"\\u12G4\"]", 6 }, { "{\"a\":[1}]", 7 },
    { "{,}", 1 }, { "[,1]", 1 }, { "{\"a\"}", 4 }, { "[1]]", 3 },
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int off = -1;
    int n = fh_json_parse(cases[k].text, strlen(cases[k].text), tape, 256, &off);
    if (n != FH_JSON_ESYNTAX || off != cases[k].off) {
      fprintf(stderr, "%s -> %d at %d, want -1 at %d\n", cases[k].text, n, off, cases[k].off);
      failures++;
    }
  }
}

// child counts, next, depth and start offsets with white space and empty containers anywhere
static void test_layout(void)
{
  const char *s = " { \"a\" : [ ] , \"b\" : { } , \"c\" : [ 1 , { \"d\" : [ [ ] ] } ] } ";
  int n = parse(s);
  CHECK(n == 12);
  CHECK(tape[0].type == FH_J_OBJ && tape[0].len == 3 && tape[0].next == 12 && tape[0].start == 1);
  CHECK(tape[1].type == FH_J_STR && tape[1].depth == 1 && s[tape[1].start] == 'a');
  CHECK(tape[2].type == FH_J_ARR && tape[2].len == 0 && tape[2].next == 3 && tape[2].depth == 1);
  CHECK(tape[4].type == FH_J_OBJ && tape[4].len == 0 && tape[4].next == 5);
  CHECK(tape[6].type == FH_J_ARR && tape[6].len == 2 && tape[6].next == 12);
  CHECK(tape[7].type == FH_J_NUM && tape[7].num == 1 && tape[7].depth == 2);
  CHECK(tape[8].type == FH_J_OBJ && tape[8].len == 1 && tape[8].next == 12 && tape[8].depth == 2);
  CHECK(tape[10].type == FH_J_ARR && tape[10].len == 1 && tape[10].next == 12);
  CHECK(tape[11].type == FH_J_ARR && tape[11].len == 0 && tape[11].depth == 4);
  // nesting limit
  static char deep[2 * FH_JSON_MAX_DEPTH + 4];
  for (int d = FH_JSON_MAX_DEPTH; d <= FH_JSON_MAX_DEPTH + 1; d++) {
    memset(deep, '[', (size_t)d);
    memset(deep + d, ']', (size_t)d);
    static fh_jtok big[2 * FH_JSON_MAX_DEPTH];
    int off = 0;
    int r = fh_json_parse(deep, 2 * (size_t)d, big, 2 * FH_JSON_MAX_DEPTH, &off);
    CHECK(d == FH_JSON_MAX_DEPTH ? r == d : r == FH_JSON_EDEPTH);
  }
}

static void test_keys(void)
{
  static fh_keyset ks;  // zeroed: empty
  const char *names[] = { "T", "S", "bp", "ap", "t", "price", "x-y", "" };
  for (int k = 0; k < 8; k++) {
    CHECK(fh_keyset_add(&ks, names[k], strlen(names[k])) == k);
  }
  CHECK(fh_keyset_add(&ks, "bp", 2) == 2);  // present: its slot
  CHECK(ks.n == 8);
  const char *s = "{\"T\":\"q\",\"bx\":\"Z\",\"bp\":1.5,\"pricey\":1,\"price\":2,"
                  "\"\\u0053\":\"AAPL\",\"T\":\"dup\",\"\":0,\"x-y\":null}";
  int n = parse(s);
  CHECK(n > 0);
  int32_t slots[FH_KEYSET_MAX];
  fh_json_keys(tape, s, 0, &ks, slots);
  for (int k = 0; k < 8; k++) {
    int want = fh_json_find(tape, s, 0, names[k], strlen(names[k]));
    if (slots[k] != want) {
      fprintf(stderr, "keys: %s -> %d, find says %d\n", names[k], slots[k], want);
      failures++;
    }
  }
  CHECK(slots[3] == -1);                                     // ap: absent
  CHECK(slots[0] > 0 && tape[slots[0]].len == 1);            // T: the first of two
  CHECK(slots[1] > 0 && tape[slots[1]].len == 4);            // S: written escaped
  CHECK(slots[5] > 0 && tape[slots[5]].num == 2);            // price, not pricey
  // not an object: every slot -1
  fh_json_keys(tape, s, 2, &ks, slots);
  for (int k = 0; k < 8; k++) {
    CHECK(slots[k] == -1);
  }
  // a full set refuses more names; a name longer than FH_KEYSET_MAXLEN is refused
  static fh_keyset full;
  char name[8];
  for (int k = 0; k < FH_KEYSET_MAX; k++) {
    int len = snprintf(name, sizeof name, "k%d", k);
    CHECK(fh_keyset_add(&full, name, (size_t)len) == k);
  }
  CHECK(fh_keyset_add(&full, "another", 7) == -1);
  CHECK(fh_keyset_add(&full, "k63", 3) == 63);
  char longname[FH_KEYSET_MAXLEN + 2];
  memset(longname, 'a', sizeof longname);
  static fh_keyset one;
  CHECK(fh_keyset_add(&one, longname, FH_KEYSET_MAXLEN + 1) == -1);
  CHECK(fh_keyset_add(&one, longname, FH_KEYSET_MAXLEN) == 0);
}

static void test_str_eq(void)
{
  const char *s = "[\"q\",\"success\",\"caf\\u00e9\",1,\"\"]";
  CHECK(parse(s) == 6);
  CHECK(fh_json_str_eq(tape, s, 1, "q", 1) == 1);
  CHECK(fh_json_str_eq(tape, s, 1, "t", 1) == 0);
  CHECK(fh_json_str_eq(tape, s, 2, "success", 7) == 1);
  CHECK(fh_json_str_eq(tape, s, 2, "succesS", 7) == 0);
  CHECK(fh_json_str_eq(tape, s, 3, "caf\xc3\xa9", 5) == 1);
  CHECK(fh_json_str_eq(tape, s, 4, "1", 1) == 0);  // a number is not a string
  CHECK(fh_json_str_eq(tape, s, 5, "", 0) == 1);
  CHECK(fh_json_str_eq(tape, s, -1, "q", 1) == 0);

  // an escaped string compares whatever its length (it once gave false past 256 bytes)
  static char big[1024];
  static char lit[512];
  size_t o = 0, w = 0;
  o += (size_t)sprintf(big, "{\"");
  for (int k = 0; k < 100; k++) {
    o += (size_t)sprintf(big + o, "ab\\n");
    w += (size_t)sprintf(lit + w, "ab\n");
  }
  o += (size_t)sprintf(big + o, "\":\"");
  for (int k = 0; k < 100; k++) {
    o += (size_t)sprintf(big + o, "ab\\n");
  }
  o += (size_t)sprintf(big + o, "\"}");
  CHECK(fh_json_parse(big, o, tape, 256, &(int){ 0 }) == 3 && tape[1].len == 400);
  CHECK(fh_json_str_eq(tape, big, 1, lit, w) == 1);
  CHECK(fh_json_str_eq(tape, big, 2, lit, w) == 1);
  CHECK(fh_json_find(tape, big, 0, lit, w) == 2);
  CHECK(fh_json_eq(tape, big, 0, lit, w, lit, w) == 1);
  CHECK(fh_json_str_eq(tape, big, 2, lit, w - 1) == 0);
  lit[w - 2] = 'x';
  CHECK(fh_json_str_eq(tape, big, 2, lit, w) == 0);
}

// fh_json_ts gives what fh_ts_iso gives, with the date cached or not
static void test_ts(void)
{
  const char *texts[] = {
    "2021-02-22T14:30:00.007099626Z", "2021-02-22T14:30:00.007Z", "2021-02-22T14:30:00Z",
    "2021-02-22T23:59:60.5Z", "2021-02-22T24:00:00Z", "2021-02-22T14:60:00Z",
    "2021-02-22T14:30:00.Z", "2021-02-22T14:30:00.1234567891Z", "2021-02-22T14:30:00,5Z",
    "2021-02-22t14:30:00Z", "2021-02-22 14:30:00Z", "2021-02-22T14:30:00.5z",
    "2021-02-22T14:30:00+05:30", "2021-02-22T14:30:00", "2021-02-22", "2021-02-23T00:00:00.1Z",
    "2021-02-22T14:3a:00Z", "2021-02-22T14:30:00.12a4Z", "1969-12-31T23:59:59.999999999Z",
    "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:17Z", "1677-09-21T00:12:43.145224192Z",
    "2021-02-22X14:30:00Z",
  };
  fh_ts_cache cache;
  memset(&cache, 0, sizeof cache);
  char frame[64];
  for (int round = 0; round < 2; round++) {
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
      // the same day first, then this one: the cache holds a date for the second call
      const char *warm = round ? texts[k] : "2021-02-22T00:00:00Z";
      for (int pass = 0; pass < 2; pass++) {
        const char *t = pass ? texts[k] : warm;
        int len = snprintf(frame, sizeof frame, "\"%s\"", t);
        CHECK(fh_json_parse(frame, (size_t)len, tape, 256, &(int){ 0 }) == 1);
        int64_t a = -1, b = -1;
        int ra = fh_json_ts(tape, frame, 0, &cache, &a);
        int rb = fh_ts_iso(t, strlen(t), &b);
        if (ra != rb || (ra == 0 && a != b)) {
          fprintf(stderr, "json_ts %s: %d %lld, ts_iso %d %lld\n", t, ra, (long long)a, rb,
                  (long long)b);
          failures++;
        }
      }
    }
  }
  // exact values (the same instant written in four zones)
  struct { const char *text; int64_t ns; } known[] = {
    { "2021-02-22T15:51:44.208Z", 1614009104208000000LL },
    { "2021-02-22T21:21:44.208+05:30", 1614009104208000000LL },
    { "2021-02-22T10:51:44.208-05:00", 1614009104208000000LL },
    { "2021-02-22T06:21:44.208-0930", 1614009104208000000LL },
  };
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    int64_t ns = 0;
    CHECK(fh_ts_iso(known[k].text, strlen(known[k].text), &ns) == 0);
    if (ns != known[k].ns) {
      fprintf(stderr, "ts_iso %s: %lld, want %lld\n", known[k].text, (long long)ns,
              (long long)known[k].ns);
      failures++;
    }
  }
  const char *s = "[1,\"2021-02-22T14:30:00\\u005a\",1.5,1618678142557535123,-1618678142557,"
                  "99999999999999999999,99999999999,0,161867814255]";
  CHECK(parse(s) == 10);
  int64_t v;
  // integers, exactly, in the unit their digits imply; fractions, exponents and what does not
  // fit in int64 ns are the Lua helper's job
  CHECK(fh_json_ts(tape, s, 1, &cache, &v) == 0 && v == 1000000000);
  CHECK(fh_json_ts(tape, s, 2, &cache, &v) == -1);  // escaped
  CHECK(fh_json_ts(tape, s, 3, &cache, &v) == -1);  // a fraction
  CHECK(fh_json_ts(tape, s, 4, &cache, &v) == 0 && v == 1618678142557535123LL);
  CHECK(fh_json_ts(tape, s, 5, &cache, &v) == 0 && v == -1618678142557000000LL);
  CHECK(fh_json_ts(tape, s, 6, &cache, &v) == -1);  // 20 digits
  CHECK(fh_json_ts(tape, s, 7, &cache, &v) == -1);  // 11 digits of seconds: past int64 ns
  CHECK(fh_json_ts(tape, s, 8, &cache, &v) == 0 && v == 0);
  CHECK(fh_json_ts(tape, s, 9, &cache, &v) == 0 && v == 161867814255000000LL);   // 12 digits: ms
}

// a day past the end of its month is no date, as for the Lua helper (not the next month's)
static void test_ts_dates(void)
{
  struct {
    const char *text;
    int ok;
  } cases[] = {
    { "2021-02-28", 1 }, { "2021-02-29", 0 }, { "2020-02-29", 1 }, { "2000-02-29T00:00:00Z", 1 },
    { "1900-02-29", 0 }, { "2021-04-30T12:00:00Z", 1 }, { "2021-04-31T12:00:00Z", 0 },
    { "2021-12-31", 1 }, { "2021-11-31", 0 }, { "1764-02-31T17:07+07", 0 }, { "2021-02-30", 0 },
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int64_t v = 0;
    int rc = fh_ts_iso(cases[k].text, strlen(cases[k].text), &v);
    if (rc != (cases[k].ok ? 0 : -1)) {
      fprintf(stderr, "ts %s: %d\n", cases[k].text, rc);
      failures++;
    }
  }
  int64_t v = 0;
  CHECK(fh_ts_iso("2020-02-29T00:00:00Z", 20, &v) == 0 && v == 1582934400000000000LL);
}

static void test_unescape(void)
{
  const char *s = "\"a\\\"b\\u00e9\\ud83d\\ude00\\n\"";
  CHECK(parse(s) == 1 && (tape[0].flags & FH_JF_ESC));
  char out[64];
  int n = fh_json_unescape(s + tape[0].start, tape[0].len, out);
  CHECK(n == 10 && memcmp(out, "a\"b\xc3\xa9\xf0\x9f\x98\x80\n", 10) == 0);
  // every escape of RFC 8259, each alone: \/ is a slash; a surrogate pair ends the string
  struct { const char *json; const char *want; } cases[] = {
    { "\"BRK\\/B\"", "BRK/B" },
    { "\"\\\\\\/\\\"\"", "\\/\"" },
    { "\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t" },
    { "\"x\\ud83d\\ude00\"", "x\xf0\x9f\x98\x80" },
    { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80" },
    { "\"\\ud83d\"", "\xef\xbf\xbd" },   // a lone high surrogate: U+FFFD
    { "\"\\u00e9\"", "\xc3\xa9" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK(parse(cases[i].json) == 1);
    n = fh_json_unescape(cases[i].json + tape[0].start, tape[0].len, out);
    if (n != (int)strlen(cases[i].want) || memcmp(out, cases[i].want, (size_t)n) != 0) {
      fprintf(stderr, "unescape %s: got %d bytes '%.*s'\n", cases[i].json, n, n > 0 ? n : 0, out);
      failures++;
    }
  }
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
  CHECK(fh_batch_push_base64(b, 2, FH_FRAME_BINARY, 0, NULL, 0, "AAEAAgM=", 8) == 0);
  CHECK(b->frames[100].len == 5 && memcmp(b->buf + b->frames[100].off, "\0\1\0\2\3", 5) == 0);
  CHECK(fh_batch_push_base64(b, 2, FH_FRAME_BINARY, 0, NULL, 0, "A$==", 4) == -2);
  CHECK(fh_batch_push_json_string(b, 1, FH_FRAME_TEXT, 0, NULL, 0, "x\\ty", 4) == 0);
  CHECK(b->frames[b->n - 1].len == 3 && b->frames[b->n - 1].meta == 0);
  // with metadata (a topic) before the payload
  CHECK(fh_batch_push_json_string(b, 1, FH_FRAME_TEXT, 0, "q/A", 3, "\\\"x\\\"", 5) == 0);
  fh_frame *f = &b->frames[b->n - 1];
  CHECK(f->meta == 3 && f->len == 3 && memcmp(b->buf + f->off - 3, "q/A\"x\"", 6) == 0);
  CHECK(fh_batch_push_base64(b, 1, FH_FRAME_BINARY, 0, "t", 1, "AAE=", 4) == 0);
  f = &b->frames[b->n - 1];
  CHECK(f->meta == 1 && f->len == 2 && memcmp(b->buf + f->off - 1, "t\0\1", 3) == 0);
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
  test_error_offsets();
  test_layout();
  test_keys();
  test_str_eq();
  test_ts();
  test_ts_dates();
  test_unescape();
  test_batch();
  return checks_done("json_tape");
}
