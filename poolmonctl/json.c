/*
 * Streaming JSON output; see json.h. A status of 5000 backends is some
 * million small writes: poolmonctl has one thread, so stdio's unlocked
 * calls, and numbers formatted here rather than by fprintf().
 */
#include "json.h"

#include <string.h>

void
json_init(struct json *j, FILE *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

static void
indent(struct json *j)
{
	/* A newline and two spaces a level, JSON_MAX_DEPTH levels. */
	static const char nl[] = "\n                                ";

	_Static_assert(sizeof(nl) - 1 >= 1 + 2 * (JSON_MAX_DEPTH - 1),
	    "indentation for every level");

	fwrite_unlocked(nl, 1, 1 + 2 * (size_t)j->depth, j->out);
}

/* Separator and indentation before a value or a key. */
static void
before_item(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth == 0)
		return;
	if (j->has_items[j->depth])
		putc_unlocked(',', j->out);
	j->has_items[j->depth] = true;
	indent(j);
}

static void
open_level(struct json *j, char c)
{
	before_item(j);
	putc_unlocked(c, j->out);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->has_items[j->depth] = false;
}

static void
close_level(struct json *j, char c)
{
	bool had = j->has_items[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had)
		indent(j);
	putc_unlocked(c, j->out);
}

void
json_object_begin(struct json *j)
{
	open_level(j, '{');
}

void
json_object_end(struct json *j)
{
	close_level(j, '}');
}

void
json_array_begin(struct json *j)
{
	open_level(j, '[');
}

void
json_array_end(struct json *j)
{
	close_level(j, ']');
}

void
json_key(struct json *j, const char *key)
{
	before_item(j);
	json_write_string(j->out, key);
	fputs_unlocked(": ", j->out);
	j->after_key = true;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
json_write_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (s == NULL) {
		fputs_unlocked("null", out);
		return;
	}
	putc_unlocked('"', out);
	while (*p != '\0') {
		/* Plain text goes out in one piece: a call per character
		 * made a 5000-backend status take a fifth of a second. */
		const unsigned char *run = p;

		while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			fwrite_unlocked(run, 1, (size_t)(p - run), out);
		if (*p == '\0')
			break;
		switch (*p) {
		case '"': fputs_unlocked("\\\"", out); p++; continue;
		case '\\': fputs_unlocked("\\\\", out); p++; continue;
		case '\n': fputs_unlocked("\\n", out); p++; continue;
		case '\r': fputs_unlocked("\\r", out); p++; continue;
		case '\t': fputs_unlocked("\\t", out); p++; continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p);
			p++;
		} else if ((n = utf8_len(p)) == 0) {
			fputs_unlocked("\\ufffd", out);
			p++;
		} else {
			fwrite_unlocked(p, 1, n, out);
			p += n;
		}
	}
	putc_unlocked('"', out);
}

void
json_string(struct json *j, const char *s)
{
	before_item(j);
	json_write_string(j->out, s);
}

static void
write_digits(FILE *out, bool negative, uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (negative)
		*--p = '-';
	fwrite_unlocked(p, 1, (size_t)(buf + sizeof(buf) - p), out);
}

void
json_int(struct json *j, int64_t v)
{
	before_item(j);
	/* The magnitude in unsigned arithmetic: -INT64_MIN overflows. */
	write_digits(j->out, v < 0, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

void
json_uint(struct json *j, uint64_t v)
{
	before_item(j);
	write_digits(j->out, false, v);
}

void
json_bool(struct json *j, bool v)
{
	before_item(j);
	fputs_unlocked(v ? "true" : "false", j->out);
}

void
json_null(struct json *j)
{
	before_item(j);
	fputs_unlocked("null", j->out);
}

void
json_finish(struct json *j)
{
	putc_unlocked('\n', j->out);
}
