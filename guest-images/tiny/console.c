/* console.c: the tiny guest's two consoles: the PV console (a
 * xencons_interface ring page and an event channel, both from HVM params)
 * and the SBSA UART (Xen's vpl011: MMIO registers of a PL011 subset), plus
 * the little GIC setup that lets the UART's interrupt wake a waiting vCPU. */
#include "tiny.h"

#define RING_IN 1024u
#define RING_OUT 2048u
#define HVM_PARAM_CONSOLE_PFN 17
#define HVM_PARAM_CONSOLE_EVTCHN 18
#define WAIT_NS (100 * NS_PER_MS)      /* only if a wake-up is missed */

struct xencons {
        char in[RING_IN];
        char out[RING_OUT];
        uint32_t in_cons, in_prod;
        uint32_t out_cons, out_prod;
};

static volatile struct xencons *ring;
unsigned pv_port;

static void mb(void) {
        __asm__ volatile("dmb sy" : : : "memory");
}

void pv_init(void) {
        ring = (volatile struct xencons *) (uintptr_t) (hvm_param(HVM_PARAM_CONSOLE_PFN) << 12);
        pv_port = (unsigned) hvm_param(HVM_PARAM_CONSOLE_EVTCHN);
        evtchn_mask(pv_port);
}

volatile uint32_t *pv_out_prod(void) {
        return &ring->out_prod;
}

volatile uint32_t *pv_out_cons(void) {
        return &ring->out_cons;
}

unsigned pv_read(char *buf, unsigned max) {
        uint32_t cons = ring->in_cons, prod = ring->in_prod;
        unsigned n = 0;

        mb();
        if (prod - cons > RING_IN)      /* nonsense from the backend: skip it */
                cons = prod;
        while (cons != prod && n < max)
                buf[n++] = ring->in[cons++ % RING_IN];
        mb();
        ring->in_cons = cons;
        if (n)
                evtchn_notify(pv_port);
        return n;
}

/* Fills the out ring as far as it goes, tells the backend, and waits on the
 * event channel (never spins) while the ring is full. */
void pv_write(const char *s, unsigned n) {
        if (!ring)
                return;
        while (n) {
                uint32_t cons = ring->out_cons, prod = ring->out_prod, room;

                mb();
                room = prod - cons >= RING_OUT ? 0 : RING_OUT - (prod - cons);
                if (!room) {
                        evtchn_clear(pv_port);
                        if (ring->out_cons == cons)
                                xen_wait(pv_port, WAIT_NS);
                        continue;
                }
                if (room > n)
                        room = n;
                for (unsigned i = 0; i < room; i++)
                        ring->out[prod++ % RING_OUT] = *s++;
                mb();
                ring->out_prod = prod;
                evtchn_notify(pv_port);
                n -= room;
        }
}

/* PL011 registers that Xen's vpl011 has. */
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_IMSC 0x38
#define UART_RIS 0x3c
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define INT_RX (1u << 4)
#define INT_TX (1u << 5)
#define INT_RT (1u << 6)
#define TX_FIFO_HALF 16 /* TX raised: at least this much room */
#define VPL011_SPI 32

static uintptr_t uart;
static uint32_t uart_imsc;

static uint32_t uart_rd(unsigned reg) {
        return *(volatile uint32_t *) (uart + reg);
}

static void uart_wr(unsigned reg, uint32_t v) {
        *(volatile uint32_t *) (uart + reg) = v;
}

void uart_init(uint64_t base) {
        uart = (uintptr_t) base;
        if (uart)
                uart_wr(UART_IMSC, 0);
}

bool uart_present(void) {
        return uart != 0;
}

void uart_rx_interrupts(bool on) {
        uart_imsc = on ? uart_imsc | INT_RX | INT_RT : uart_imsc & ~(INT_RX | INT_RT);
        uart_wr(UART_IMSC, uart_imsc);
}

int uart_getc(void) {
        if (!uart || (uart_rd(UART_FR) & FR_RXFE))
                return -1;
        return (int) (uart_rd(UART_DR) & 0xff);
}

/* Every register access traps into Xen, so the TX interrupt status (raised
 * while the ring has room for half a FIFO) lets 16 bytes go per check. When
 * the ring is full, the TX interrupt wakes the wait. */
void uart_write(const char *s, unsigned n) {
        if (!uart)
                return;
        while (n) {
                unsigned room = (uart_rd(UART_RIS) & INT_TX) ? TX_FIFO_HALF : !(uart_rd(UART_FR) & FR_TXFF);

                if (!room) {
                        uart_wr(UART_IMSC, uart_imsc | INT_TX);
                        if (uart_rd(UART_FR) & FR_TXFF)
                                xen_wait(pv_port, 10 * NS_PER_MS);
                        uart_wr(UART_IMSC, uart_imsc);
                        continue;
                }
                if (room > n)
                        room = n;
                n -= room;
                while (room--)
                        uart_wr(UART_DR, (uint8_t) *s++);
        }
}

/* The vpl011's interrupt, enabled in the guest's GIC distributor, is what
 * makes Xen kick a vCPU that waits in SCHEDOP_poll when the UART gets
 * input or room. It is never taken (interrupts stay masked) and never
 * acknowledged: only the wake-up matters. */
void gic_init(int version, uint64_t dist_base) {
        volatile uint32_t *gicd = (volatile uint32_t *) (uintptr_t) dist_base;

        if (!dist_base || !uart)
                return;
        if (version == 3) {
                gicd[0] = (1u << 4) | (1u << 1);        /* CTLR: ARE_NS, EnableGrp1A */
        } else {
                gicd[0] = 1;                            /* CTLR: Enable */
                gicd[0x800 / 4 + VPL011_SPI / 4] = 1;   /* ITARGETSR: vCPU 0 */
        }
        gicd[0x100 / 4 + VPL011_SPI / 32] = 1u << (VPL011_SPI % 32);   /* ISENABLER */
}

void con_write(int which, const char *s, unsigned n) {
        if (which & CON_PV)
                pv_write(s, n);
        if (which & CON_VUART)
                uart_write(s, n);
}

void con_puts(int which, const char *s) {
        con_write(which, s, (unsigned) strlen(s));
}
