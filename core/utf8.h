/*
 * utf8.h - the one UTF-8 validator, shared by every codec.
 *
 * Valid means what MQTT asks of its strings (3.1.1 section 1.5.3, 5.0
 * section 1.5.4), which is also what topic names need to be to cross
 * between protocols: well-formed UTF-8 (no overlong forms, nothing above
 * U+10FFFF), no UTF-16 surrogates U+D800..U+DFFF, no U+0000.
 *
 * Pure: libc only.
 */
#ifndef JUNCTION_UTF8_H
#define JUNCTION_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_is_valid(const char *p, size_t len);

#endif
