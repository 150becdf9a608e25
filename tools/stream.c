/* What the generating commands (run, chat) share when they stream text: a
 * Ctrl-C that stops generation cleanly, and whole UTF-8 characters only. */
#include <signal.h>
#include <stddef.h>

#include "commands.h"

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

void mlxc_stop_on_sigint(void) { signal(SIGINT, on_sigint); }

int mlxc_stop_requested(void) { return g_stop != 0; }

size_t mlxc_utf8_complete(const char *s, size_t n) {
    size_t i = n, back = 0;
    while (i > 0 && back < 4) {
        unsigned char c = (unsigned char)s[i - 1];
        if ((c & 0xC0) != 0x80) {
            size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
            return back + 1 >= need ? n : i - 1;
        }
        i--;
        back++;
    }
    return n;
}
