/*
 * libFuzzer harness for the chat-template interpreter.  The input is a
 * template, optionally followed by a NUL byte and a JSON array of messages
 * (otherwise a fixed three-turn conversation).  Parsing and rendering must
 * end with a status, never a crash, a leak or a hang, and within the limits
 * the options set; the template's own checks: a rendering succeeds the
 * same way twice (a parsed template is immutable).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlxc/chat.h"

static const char MESSAGES[] =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \" Hi, w\\u00f6rld \"},"
    " {\"role\": \"assistant\", \"content\": \"<think>x</think>Hello\", \"tool_calls\": [{\"function\": {\"name\": \"f\","
    " \"arguments\": {\"a\": [1, 2.5, null, true]}}}]}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"q\"}]}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    size_t n = size;
    const char *msgs = MESSAGES;
    size_t msgs_len = sizeof MESSAGES - 1;
    const void *nul = memchr(data, 0, size);
    if (nul) {
        n = (size_t)((const uint8_t *)nul - data);
        msgs = src + n + 1;
        msgs_len = size - n - 1;
    }
    mlxc_chat_template *t = NULL;
    if (mlxc_chat_template_parse(src, n, &t) != MLXC_OK) return 0;
    mlxc_chat_options o = {
        .add_generation_prompt = size & 1,
        .bos_token = "<s>",
        .eos_token = "</s>",
        .vars_json = "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"enable_thinking\": false}",
        .max_output = 1 << 20,
        .max_memory = 64 << 20,
        .max_steps = 200000,
    };
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    mlxc_status sa = mlxc_chat_template_render_json(t, msgs, msgs_len, &o, &a, &la);
    if (sa == MLXC_OK && (la > o.max_output || strlen(a) > la)) abort();
    mlxc_status sb = mlxc_chat_template_render_json(t, msgs, msgs_len, &o, &b, &lb);
    if (sa != sb || (sa == MLXC_OK && (la != lb || memcmp(a, b, la) != 0))) abort();
    free(a);
    free(b);
    mlxc_chat_template_free(t);
    return 0;
}
