/* vm-state.h: owns the rules of a VM's life: its states, the events that
 * move it, and the table of which event may move it from which state to
 * which. Pure: vm.c applies it (vm_transition()), tests check every pair.
 *
 *   state      event                                      next state
 *   stopped,   started, recovered_running                 running
 *   crashed    recovered_paused                           paused
 *   running    paused                                     paused
 *   paused     resumed                                    running
 *   running,   powered_off, rebooted, destroyed, vanished stopped
 *   paused     crashed                                    crashed
 * Every other pair cannot happen (a request that would need one is refused).
 *
 * A guest reboot is two transitions: rebooted (the old domain is gone) and
 * started (the new one runs, one turn of the event loop later), so a
 * rebuild that fails leaves it stopped. A guest that reboots
 * VM_REBOOT_LOOP_COUNT times within VM_REBOOT_LOOP_SEC is crashed instead,
 * with the exit reason reboot_loop.
 *
 * How a VM's last boot ended is its exit reason (enum vm_exit). */
#pragma once

#include <stdbool.h>

enum vm_state {
        VM_STOPPED,
        VM_RUNNING,
        VM_PAUSED,
        VM_CRASHED,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -1,
};

enum vm_event {
        VM_EVENT_STARTED,               /* a new domain runs (start, or after a reboot) */
        VM_EVENT_PAUSED,
        VM_EVENT_RESUMED,               /* unpaused (resume, or to see a shutdown request) */
        VM_EVENT_POWERED_OFF,           /* the guest powered off */
        VM_EVENT_REBOOTED,              /* the guest rebooted: its domain is gone, a new one follows */
        VM_EVENT_CRASHED,               /* the guest crashed, or its watchdog fired */
        VM_EVENT_DESTROYED,             /* the agent pulled the plug (destroy, a shutdown's timeout) */
        VM_EVENT_VANISHED,              /* the domain went away by other hands */
        VM_EVENT_RECOVERED_RUNNING,     /* a restarted agent found its domain running */
        VM_EVENT_RECOVERED_PAUSED,      /* ... or paused */
        _VM_EVENT_MAX,
};

/* "stopped", "running", "paused", "crashed": one string per state, so that
 * callers may compare the pointers. */
const char *vm_state_to_string(enum vm_state s);
/* "started", "paused", ...: for the journal and for events. */
const char *vm_event_to_string(enum vm_event e);

/* The state event e moves a VM in state s to, or _VM_STATE_INVALID if e
 * cannot happen in s. */
enum vm_state vm_state_next(enum vm_state s, enum vm_event e);

/* Whether a VM in this state has a domain (running or paused). */
bool vm_state_has_domain(enum vm_state s);

/* A loop of reboots: this many guest reboots within this many seconds. */
#define VM_REBOOT_LOOP_COUNT 5
#define VM_REBOOT_LOOP_SEC 60

/* How a VM's last boot ended ("none": it never ended, or never ran). */
enum vm_exit {
        VM_EXIT_NONE,
        VM_EXIT_POWEROFF,       /* the guest powered off (or suspended: nothing resumes it) */
        VM_EXIT_REBOOT,         /* the guest rebooted (a new boot follows) */
        VM_EXIT_CRASH,          /* the guest said it crashed, or Xen found it did */
        VM_EXIT_WATCHDOG,       /* its watchdog fired */
        VM_EXIT_REBOOT_LOOP,    /* it rebooted too often (VM_REBOOT_LOOP_*) */
        VM_EXIT_DESTROY,        /* the agent pulled the plug: destroy, or a shutdown's timeout */
        VM_EXIT_VANISHED,       /* its domain went away by other hands */
        VM_EXIT_HOST_REBOOT,    /* the host rebooted (or lost power) while it ran */
        _VM_EXIT_MAX,
};

/* "none", "poweroff", "reboot", "crash", "watchdog", "reboot_loop",
 * "destroy", "vanished", "host_reboot". */
const char *vm_exit_to_string(enum vm_exit x);
/* The reason a name says, or VM_EXIT_NONE for an unknown one. */
enum vm_exit vm_exit_from_string(const char *s);
