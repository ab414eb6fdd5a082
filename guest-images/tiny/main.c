/* main.c: the tiny guest's modes, chosen by words of its command line
 * (/chosen/bootargs): mode=echo|idle|poweroff|reboot|crash|flood|trickle|
 * spin|corrupt|rebootloop, with delay=SECONDS, console=pv|vuart|both,
 * bytes=N[k|m] and interval_ms=N. guest-images/README.md says what each
 * mode does. */
#include "tiny.h"

/* A flood is the first `bytes` bytes of lines "tiny NNNNNNNNNN FILLER\n",
 * NNNNNNNNNN counting lines from 0. */
#define FLOOD_LINE 64
static const char filler[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU";
_Static_assert(5 + 10 + 1 + sizeof(filler) - 1 + 1 == FLOOD_LINE, "flood line length");

size_t strlen(const char *s) {
        size_t n = 0;

        while (s[n])
                n++;
        return n;
}

void *memcpy(void *d, const void *s, size_t n) {
        char *dp = d;
        const char *sp = s;

        while (n--)
                *dp++ = *sp++;
        return d;
}

void *memset(void *d, int c, size_t n) {
        char *dp = d;

        while (n--)
                *dp++ = (char) c;
        return d;
}

static bool streq(const char *a, const char *b) {
        while (*a && *a == *b)
                a++, b++;
        return *a == *b;
}

/* Writes v in base 10 or 16, at least width digits, at p; returns the end
 * (not terminated). */
char *fmt_u64(char *p, uint64_t v, int width, int base) {
        char digits[20];
        int n = 0;

        do
                digits[n++] = "0123456789abcdef"[v % (unsigned) base], v /= (unsigned) base;
        while (v);
        while (width-- > n)
                *p++ = '0';
        while (n)
                *p++ = digits[--n];
        return p;
}

/* Writes s at p; returns the end. */
static char *put(char *p, const char *s) {
        while (*s)
                *p++ = *s++;
        return p;
}

static void say(int which, char *line, char *end) {
        *end++ = '\n';
        con_write(which, line, (unsigned) (end - line));
}

/* The value of the word key=VALUE on the command line, in buf ("" if
 * absent; the last one counts). */
static const char *arg(const char *cmdline, const char *key, char *buf, unsigned size) {
        size_t klen = strlen(key);

        buf[0] = 0;
        for (const char *w = cmdline; *w;) {
                size_t i = 0;

                while (i < klen && w[i] == key[i])
                        i++;
                if (i == klen && w[i] == '=') {
                        unsigned n = 0;

                        for (w += klen + 1; *w && *w != ' ' && n + 1 < size; w++)
                                buf[n++] = *w;
                        buf[n] = 0;
                }
                while (*w && *w != ' ')
                        w++;
                while (*w == ' ')
                        w++;
        }
        return buf;
}

/* A decimal number with an optional k or m (KiB, MiB) suffix. */
static uint64_t arg_num(const char *cmdline, const char *key, uint64_t dflt) {
        char buf[24];
        const char *s = arg(cmdline, key, buf, sizeof(buf));
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return dflt;
        while (*s >= '0' && *s <= '9')
                v = v * 10 + (uint64_t) (*s++ - '0');
        if (*s == 'k' || *s == 'K')
                v <<= 10;
        if (*s == 'm' || *s == 'M')
                v <<= 20;
        return v;
}

/* Discards what was typed on the PV console, so that its sender is never
 * told the guest stopped reading. */
static void pv_discard(void) {
        char buf[64];

        while (pv_read(buf, sizeof(buf)))
                ;
}

/* Sleeps without spinning until now_ns() reaches t. */
static void sleep_until(uint64_t t) {
        for (uint64_t now; (now = now_ns()) < t;) {
                evtchn_clear(pv_port);
                pv_discard();
                xen_wait(pv_port, t - now);
        }
}

static void idle(void) __attribute__((noreturn));
static void idle(void) {
        for (;;) {
                evtchn_clear(pv_port);
                pv_discard();
                xen_wait(pv_port, 0);
        }
}

static void echo(void) __attribute__((noreturn));
static void echo(void) {
        char buf[256];

        uart_rx_interrupts(true);
        for (;;) {
                unsigned n, got = 0;
                int c;

                evtchn_clear(pv_port);
                while ((n = pv_read(buf, sizeof(buf))) > 0)
                        pv_write(buf, n), got += n;
                for (n = 0; n < sizeof(buf) && (c = uart_getc()) >= 0;)
                        buf[n++] = (char) c;
                uart_write(buf, n);
                /* The vpl011's interrupt wakes the wait; the timeout only
                 * covers a byte that came between the check and the wait. */
                if (!got && !n)
                        xen_wait(pv_port, NS_PER_S);
        }
}

static void flood(int which, uint64_t bytes) {
        char line[FLOOD_LINE + 32], *p;

        for (uint64_t i = 0, sent = 0; sent < bytes; i++, sent += FLOOD_LINE) {
                unsigned n = bytes - sent < FLOOD_LINE ? (unsigned) (bytes - sent) : FLOOD_LINE;

                p = fmt_u64(put(line, "tiny "), i, 10, 10);
                p = put(put(p, " "), filler);
                *p = '\n';
                con_write(which, line, n);
        }
        p = put(line, bytes % FLOOD_LINE ? "\ntiny: flood done " : "tiny: flood done ");
        say(which, line, fmt_u64(p, bytes, 0, 10));
}

static void trickle(uint64_t interval_ms) __attribute__((noreturn));
static void trickle(uint64_t interval_ms) {
        uint64_t next = now_ns();
        char line[48];

        for (uint64_t i = 0;; i++) {
                say(CON_BOTH, line, fmt_u64(put(line, "tiny trickle "), i, 10, 10));
                next += interval_ms * NS_PER_MS;
                sleep_until(next);
        }
}

/* Keeps the out ring full of whatever it holds: the producer index moves
 * on by all the room the backend made, and the backend is told, for ever.
 * Waits on the event channel while the ring is full. */
static void spin(void) __attribute__((noreturn));
static void spin(void) {
        volatile uint32_t *prod = pv_out_prod(), *cons = pv_out_cons();

        for (;;) {
                uint32_t c = *cons;

                evtchn_clear(pv_port);
                if (*prod - c < 2048) {
                        __asm__ volatile("dmb sy" : : : "memory");
                        *prod = c + 2048;
                        evtchn_notify(pv_port);
                } else {
                        xen_wait(pv_port, 100 * NS_PER_MS);
                }
        }
}

/* A producer index 1 GiB past the consumer's, which no ring can hold; a
 * second after the backend has taken the banner (a backend that finds the
 * ring corrupt may drop what it read just before, or never read again). */
static void corrupt(void) {
        for (int i = 0; i < 100 && *pv_out_cons() != *pv_out_prod(); i++) {
                evtchn_clear(pv_port);
                if (*pv_out_cons() != *pv_out_prod())
                        xen_wait(pv_port, 100 * NS_PER_MS);
        }
        sleep_until(now_ns() + NS_PER_S);
        *pv_out_prod() = *pv_out_cons() + 0x40000000u;
        __asm__ volatile("dmb sy" : : : "memory");
        evtchn_notify(pv_port);
}

static void down(const char *what, unsigned reason) __attribute__((noreturn));
static void down(const char *what, unsigned reason) {
        char line[32];

        say(CON_BOTH, line, put(put(line, "tiny: "), what));
        xen_shutdown(reason);
}

void tiny_exception(long kind, uint64_t esr, uint64_t elr, uint64_t far) __attribute__((noreturn));
void tiny_exception(long kind, uint64_t esr, uint64_t elr, uint64_t far) {
        char line[96], *p = put(line, "tiny: exception ");

        p = fmt_u64(put(fmt_u64(p, (uint64_t) kind, 0, 10), " esr=0x"), esr, 0, 16);
        p = fmt_u64(put(fmt_u64(put(p, " elr=0x"), elr, 0, 16), " far=0x"), far, 0, 16);
        say(CON_BOTH, line, p);
        xen_shutdown(SHUTDOWN_CRASH);
}

void tiny_main(const void *fdt) __attribute__((noreturn));
void tiny_main(const void *fdt) {
        struct dt_info dt;
        char mode[16], which[8], line[64];
        bool dt_ok = fdt_scan(fdt, &dt);
        uint64_t delay;
        int con = CON_BOTH;

        xen_init();
        pv_init();
        uart_init(dt.uart_base);
        gic_init(dt.gic_version, dt.gic_dist_base);

        arg(dt.bootargs, "mode", mode, sizeof(mode));
        if (!mode[0])
                put(mode, "echo")[0] = 0;
        arg(dt.bootargs, "console", which, sizeof(which));
        if (streq(which, "pv"))
                con = CON_PV;
        else if (streq(which, "vuart"))
                con = CON_VUART;
        if (!dt_ok)
                con_puts(CON_BOTH, "tiny: no device tree: no command line, no vuart\n");
        say(CON_PV, line, put(put(line, "tiny: ready on pv mode="), mode));
        say(CON_VUART, line, put(put(line, "tiny: ready on vuart mode="), mode));

        delay = arg_num(dt.bootargs, "delay", 0);
        if (delay)
                sleep_until(now_ns() + delay * NS_PER_S);

        if (streq(mode, "echo"))
                echo();
        if (streq(mode, "poweroff"))
                down("poweroff", SHUTDOWN_POWEROFF);
        if (streq(mode, "reboot") || streq(mode, "rebootloop"))
                down("reboot", SHUTDOWN_REBOOT);
        if (streq(mode, "crash"))
                down("crash", SHUTDOWN_CRASH);
        if (streq(mode, "flood"))
                flood(con, arg_num(dt.bootargs, "bytes", 1 << 20));
        else if (streq(mode, "trickle"))
                trickle(arg_num(dt.bootargs, "interval_ms", 1000));
        else if (streq(mode, "spin"))
                spin();
        else if (streq(mode, "corrupt"))
                corrupt();
        else if (!streq(mode, "idle"))
                con_puts(CON_BOTH, "tiny: unknown mode, idling\n");
        idle();
}
