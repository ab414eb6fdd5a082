/* xen.c: the tiny guest's view of Xen: hypercalls, the shared info page
 * that holds the event channels' pending bits, waiting on an event channel
 * with a timeout (SCHEDOP_poll), the clock, and shutdown.
 *
 * SCHEDOP_poll's timeout is in Xen's system time, which a guest on ARM is
 * not told. The vCPU's runstate area is: Xen writes it each time the vCPU is
 * scheduled in, stamped with the system time of that moment. That stamp,
 * taken against the virtual counter right after, gives system time minus
 * our clock to within the few microseconds since; the largest such value
 * seen is the best (each is a lower bound). A timeout that comes too early
 * is simply waited again. */
#include "tiny.h"

#define HYPERVISOR_memory_op 12
#define HYPERVISOR_vcpu_op 24
#define HYPERVISOR_sched_op 29
#define HYPERVISOR_event_channel_op 32
#define HYPERVISOR_hvm_op 34

#define SCHEDOP_shutdown 2
#define SCHEDOP_poll 3
#define EVTCHNOP_send 4
#define HVMOP_get_param 1
#define VCPUOP_register_runstate_memory_area 5
#define XENMEM_add_to_physmap 7
#define XENMAPSPACE_shared_info 0
#define DOMID_SELF 0x7ff0

/* struct shared_info on ARM: one legacy vcpu_info (48 bytes), then 64
 * words of pending bits and 64 of mask bits. */
#define SHARED_PENDING 48
#define SHARED_MASK 560

static uint8_t shared_info[4096] __attribute__((aligned(4096)));

static struct {
        uint32_t state, pad;
        uint64_t entry_time;    /* bit 63: being updated (if asked for) */
        uint64_t time[4];
} runstate __attribute__((aligned(64)));

static uint64_t counter_hz;
static int64_t xen_offset_ns;   /* Xen's system time minus now_ns() */
static bool calibrated;

static uint64_t counter(void) {
        uint64_t v;

        __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
        return v;
}

uint64_t now_ns(void) {
        uint64_t c = counter();

        return c / counter_hz * NS_PER_S + c % counter_hz * NS_PER_S / counter_hz;
}

static void calibrate(void) {
        int64_t entry = (int64_t) (*(volatile uint64_t *) &runstate.entry_time & ~(1ull << 63));
        int64_t off = entry - (int64_t) now_ns();

        if (!calibrated || off > xen_offset_ns)
                xen_offset_ns = off;
        calibrated = true;
}

uint64_t hvm_param(unsigned index) {
        struct {
                uint16_t domid;
                uint16_t pad;
                uint32_t index;
                uint64_t value;
        } p = { .domid = DOMID_SELF, .index = index };

        if (hypercall(HYPERVISOR_hvm_op, HVMOP_get_param, (long) &p, 0) != 0)
                return 0;
        return p.value;
}

void xen_init(void) {
        struct {
                uint16_t domid, size;
                uint32_t space;
                uint64_t idx, gpfn;
        } map = { .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .gpfn = (uintptr_t) shared_info >> 12 };
        uint64_t area = (uintptr_t) &runstate;

        __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(counter_hz));
        if (!counter_hz)
                counter_hz = 62500000;
        hypercall(HYPERVISOR_memory_op, XENMEM_add_to_physmap, (long) &map, 0);
        hypercall(HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, 0, (long) &area);
        calibrate();
}

static volatile uint64_t *shared_word(unsigned offset, unsigned port) {
        return (volatile uint64_t *) (shared_info + offset) + port / 64 % 64;
}

bool evtchn_clear(unsigned port) {
        uint64_t bit = 1ull << (port % 64);

        return __atomic_fetch_and(shared_word(SHARED_PENDING, port), ~bit, __ATOMIC_SEQ_CST) & bit;
}

/* A masked port still wakes SCHEDOP_poll; it only spares Xen raising the
 * event upcall interrupt, which nobody here takes. */
void evtchn_mask(unsigned port) {
        __atomic_fetch_or(shared_word(SHARED_MASK, port), 1ull << (port % 64), __ATOMIC_SEQ_CST);
}

void evtchn_notify(unsigned port) {
        uint32_t p = port;

        hypercall(HYPERVISOR_event_channel_op, EVTCHNOP_send, (long) &p, 0);
}

/* Blocks until port is pending, an interrupt is raised for us (the vuart's),
 * or about timeout_ns have passed. Callers clear the port, then check for
 * their condition, then wait: an event in between makes this return at once. */
void xen_wait(unsigned port, uint64_t timeout_ns) {
        uint32_t ports[1] = { port };
        struct {
                uint64_t ports;
                uint32_t nr_ports, pad;
                uint64_t timeout;
        } poll = { .ports = (uintptr_t) ports, .nr_ports = 1 };

        if (timeout_ns) {
                int64_t t = (int64_t) (now_ns() + timeout_ns) + xen_offset_ns;

                poll.timeout = t > 0 ? (uint64_t) t : 1;
        }
        hypercall(HYPERVISOR_sched_op, SCHEDOP_poll, (long) &poll, 0);
        calibrate();
}

void xen_shutdown(unsigned reason) {
        uint32_t r = reason;

        hypercall(HYPERVISOR_sched_op, SCHEDOP_shutdown, (long) &r, 0);
        for (;;) {
                evtchn_clear(pv_port);
                xen_wait(pv_port, 0);
        }
}
