/* A warning for text that is not valid UTF-8: the tokenizer replaces the
 * invalid bytes by U+FFFD silently, and a user should know that the model
 * did not see their bytes. */
#include <stdint.h>
#include <stdio.h>

#include "commands.h"

/* Bytes of the valid sequence at s[0..n), or 0 (overlong forms, surrogates
 * and code points past U+10FFFF are invalid, as in the tokenizer). */
static size_t utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    uint8_t lo = 0x80, hi = 0xBF;   /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) { k = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { k = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return k;
}

void mlxc_warn_invalid_utf8(const char *cmd, const char *text, size_t len) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(s + i, len - i);
        if (!k) {
            fprintf(stderr, "mlxc %s: warning: the text is not valid UTF-8 (first bad byte 0x%02X at offset %zu); "
                            "invalid bytes are replaced by U+FFFD\n", cmd, s[i], i);
            return;
        }
        i += k;
    }
}
