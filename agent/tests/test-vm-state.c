/* test-vm-state.c: the rules of a VM's life (vm-state.c): every pair of
 * state and event, allowed or refused, against the table written out here
 * once more by hand, and the names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm-state.h"

#define NONE _VM_STATE_INVALID

/* What each event does in each state: the specification. */
static const int expected[_VM_STATE_MAX][_VM_EVENT_MAX] = {
        /*               started     paused     resumed     powered_off rebooted    crashed     destroyed   vanished    rec_running rec_paused */
        [VM_STOPPED] = { VM_RUNNING, NONE,      NONE,       NONE,       NONE,       NONE,       NONE,       NONE,       VM_RUNNING, VM_PAUSED },
        [VM_RUNNING] = { NONE,       VM_PAUSED, NONE,       VM_STOPPED, VM_STOPPED, VM_CRASHED, VM_STOPPED, VM_STOPPED, NONE,       NONE },
        [VM_PAUSED] =  { NONE,       NONE,      VM_RUNNING, VM_STOPPED, VM_STOPPED, VM_CRASHED, VM_STOPPED, VM_STOPPED, NONE,       NONE },
        [VM_CRASHED] = { VM_RUNNING, NONE,      NONE,       NONE,       NONE,       NONE,       NONE,       NONE,       VM_RUNNING, VM_PAUSED },
};

static void test_every_transition(void **state) {
        unsigned allowed = 0, refused = 0;

        (void) state;
        for (int s = 0; s < _VM_STATE_MAX; s++)
                for (int e = 0; e < _VM_EVENT_MAX; e++) {
                        enum vm_state got = vm_state_next((enum vm_state) s, (enum vm_event) e);

                        if (got != expected[s][e])
                                fail_msg("%s in %s: got %s, expected %s", vm_event_to_string((enum vm_event) e),
                                         vm_state_to_string((enum vm_state) s), vm_state_to_string(got),
                                         vm_state_to_string((enum vm_state) expected[s][e]));
                        if (got == NONE)
                                refused++;
                        else
                                allowed++;
                }
        assert_int_equal(allowed + refused, _VM_STATE_MAX * _VM_EVENT_MAX);
        assert_int_equal(allowed, 18);
}

static void test_out_of_range(void **state) {
        (void) state;
        assert_int_equal(vm_state_next(_VM_STATE_MAX, VM_EVENT_STARTED), NONE);
        assert_int_equal(vm_state_next(NONE, VM_EVENT_STARTED), NONE);
        assert_int_equal(vm_state_next(VM_STOPPED, _VM_EVENT_MAX), NONE);
        assert_int_equal(vm_state_next(VM_STOPPED, (enum vm_event) -1), NONE);
}

/* A domain exists exactly while running or paused; the API's "a VM that
 * runs" is that. */
static void test_has_domain(void **state) {
        (void) state;
        assert_false(vm_state_has_domain(VM_STOPPED));
        assert_true(vm_state_has_domain(VM_RUNNING));
        assert_true(vm_state_has_domain(VM_PAUSED));
        assert_false(vm_state_has_domain(VM_CRASHED));
}

/* The names are the API's and run.json's: they must not change. */
static void test_names(void **state) {
        (void) state;
        assert_string_equal(vm_state_to_string(VM_STOPPED), "stopped");
        assert_string_equal(vm_state_to_string(VM_RUNNING), "running");
        assert_string_equal(vm_state_to_string(VM_PAUSED), "paused");
        assert_string_equal(vm_state_to_string(VM_CRASHED), "crashed");
        assert_string_equal(vm_state_to_string(NONE), "invalid");
        /* One string per state, so pointers may be compared. */
        assert_ptr_equal(vm_state_to_string(VM_PAUSED), vm_state_to_string(VM_PAUSED));
        for (int e = 0; e < _VM_EVENT_MAX; e++) {
                const char *n = vm_event_to_string((enum vm_event) e);

                assert_non_null(n);
                assert_string_not_equal(n, "invalid");
                for (int k = 0; k < e; k++)
                        assert_string_not_equal(n, vm_event_to_string((enum vm_event) k));
        }
        assert_string_equal(vm_event_to_string(_VM_EVENT_MAX), "invalid");
}

static void test_exit_names(void **state) {
        (void) state;
        for (int x = 0; x < _VM_EXIT_MAX; x++)
                assert_int_equal(vm_exit_from_string(vm_exit_to_string((enum vm_exit) x)), x);
        assert_string_equal(vm_exit_to_string(VM_EXIT_REBOOT_LOOP), "reboot_loop");
        assert_string_equal(vm_exit_to_string(_VM_EXIT_MAX), "none");
        assert_int_equal(vm_exit_from_string("bogus"), VM_EXIT_NONE);
        assert_int_equal(vm_exit_from_string(NULL), VM_EXIT_NONE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_transition),
                cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_has_domain),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_exit_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
