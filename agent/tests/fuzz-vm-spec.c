/* fuzz-vm-spec.c: libFuzzer target for the VM spec (vm-spec.c), the agent's
 * largest parser of outside input. The input is a request's JSON body, and
 * also a spec.json read back from the state disk (which may hold anything).
 * Checks that a spec the request parser takes round-trips once its NICs
 * have MACs and addresses (as the VMs give them): its disk form is taken by
 * the disk parser and gives the same spec (the same JSON), and
 * that a refusal always says why (a code and a message).
 * Not built by meson; build and run it with agent/tests/fuzz vm-spec
 * SECONDS, or:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *         agent/tests/fuzz-vm-spec.c agent/vm-spec.c agent/line-match.c agent/utf8.c \
 *         agent/net-addr.c agent/errors.c -ljansson -o fuzz-vm-spec
 *   ./fuzz-vm-spec -max_total_time=60 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "vm-spec.h"

static char *dump(const struct vm_spec *s) {
        json_t *j = vm_spec_to_json(s);
        char *text;

        CHECK(j);
        text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(j);
        CHECK(text);
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *body = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        struct vm_spec *s, *back;
        struct error err = { 0 };

        if (!body)
                return 0;
        s = calloc(1, sizeof(*s));
        back = calloc(1, sizeof(*back));
        CHECK(s && back);

        if (vm_spec_from_request(body, s, &err) == 0) {
                json_t *disk;

                /* As the VMs do before a spec is stored (vms-networks.c):
                 * every NIC gets a MAC if it had none, and an address. */
                for (unsigned i = 0, next = 0; i < s->n_nics; i++) {
                        while (!s->nics[i].mac_set) {
                                uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, (uint8_t) next++ };
                                bool taken = false;

                                for (unsigned k = 0; k < s->n_nics; k++)
                                        taken |= s->nics[k].mac_set && memcmp(s->nics[k].mac, mac, 6) == 0;
                                if (!taken) {
                                        memcpy(s->nics[i].mac, mac, 6);
                                        s->nics[i].mac_set = true;
                                }
                        }
                        s->nics[i].address = 0xa9fe010au + i;   /* 169.254.1.10 + i */
                }
                disk = vm_spec_to_disk_json(s);
                struct error err2 = { 0 };
                char *a, *b;

                CHECK(disk);
                if (vm_spec_from_disk(disk, back, &err2) != 0)
                        abort();        /* what we store, we must read */
                a = dump(s);
                b = dump(back);
                CHECK(strcmp(a, b) == 0);
                free(a);
                free(b);
                json_decref(disk);
        } else {
                CHECK(err.code != ERROR_NONE && err.message[0]);
        }

        /* The same bytes as a spec.json on the state disk. */
        memset(back, 0, sizeof(*back));
        err = (struct error) { 0 };
        if (vm_spec_from_disk(body, back, &err) != 0)
                CHECK(err.code != ERROR_NONE && err.message[0]);
        else
                free(dump(back));
        json_decref(body);
        free(s);
        free(back);
        return 0;
}
