/* tiny.h: what the tiny guest's files share: Xen's numbers (learnt from
 * xen/include/public: xen.h, sched.h, event_channel.h, vcpu.h, memory.h,
 * hvm/params.h, io/console.h) and each file's functions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* Which console a write goes to. */
#define CON_PV 1
#define CON_VUART 2
#define CON_BOTH (CON_PV | CON_VUART)

/* Xen's shutdown reasons (sched.h). */
#define SHUTDOWN_POWEROFF 0
#define SHUTDOWN_REBOOT 1
#define SHUTDOWN_CRASH 3

/* head.S */
long hypercall(long nr, long a0, long a1, long a2);
long psci(long function);

/* xen.c */
void xen_init(void);
uint64_t hvm_param(unsigned index);
uint64_t now_ns(void);
bool evtchn_clear(unsigned port);      /* true if it was pending */
void evtchn_mask(unsigned port);
void evtchn_notify(unsigned port);
void xen_wait(unsigned port, uint64_t timeout_ns);     /* 0: no timeout */
void xen_shutdown(unsigned reason) __attribute__((noreturn));

/* console.c */
extern unsigned pv_port;
void pv_init(void);
unsigned pv_read(char *buf, unsigned max);
void pv_write(const char *s, unsigned n);
volatile uint32_t *pv_out_prod(void);
volatile uint32_t *pv_out_cons(void);
void uart_init(uint64_t base);          /* 0: no vuart */
bool uart_present(void);
void uart_rx_interrupts(bool on);
int uart_getc(void);                    /* -1 when nothing is there */
void uart_write(const char *s, unsigned n);
void gic_init(int version, uint64_t dist_base);
void con_write(int which, const char *s, unsigned n);
void con_puts(int which, const char *s);

/* fdt.c */
struct dt_info {
        const char *bootargs;           /* "" without one */
        uint64_t uart_base;             /* 0 without an SBSA UART */
        int gic_version;                /* 2, 3, or 0 if not found */
        uint64_t gic_dist_base;
};
bool fdt_scan(const void *fdt, struct dt_info *out);

/* main.c */
size_t strlen(const char *s);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
char *fmt_u64(char *p, uint64_t v, int width, int base);
