/*
 * A small streaming JSON writer: values are written as they come, commas
 * and indentation follow from the nesting. Strings are escaped and bytes
 * that are not valid UTF-8 become U+FFFD, so the output always parses
 * whatever a backend or the director sent.
 */
#ifndef POOLMONCTL_JSON_H
#define POOLMONCTL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH	16

struct json {
	FILE *out;
	int depth;
	bool has_items[JSON_MAX_DEPTH];	/* a value written at this level */
	bool after_key;
};

void json_init(struct json *j, FILE *out);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* The next value belongs to this key of the enclosing object. */
void json_key(struct json *j, const char *key);
/* NULL writes null. */
void json_string(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* After the outermost value: a final newline. */
void json_finish(struct json *j);

/* Escape s (NULL: null) as a JSON string; for tests and messages. */
void json_write_string(FILE *out, const char *s);

#endif
