/* core.h: the privileged core (the library xvmd-core: Xen, domains, VMs,
 * consoles and their logs, images, state on disk) as the front end (the
 * library xvmd-front: HTTP, websockets, JSON requests, authentication,
 * sessions) sees it. The front end includes this header and no other of the
 * core's; that is the seam along which the network-facing parsers can later
 * move into an unprivileged process.
 *
 *   errors.h       the one error type (its codes, not HTTP statuses)
 *   vm-spec.h      what a VM is made of, parsed from a request
 *   vm-state.h     a VM's states and events
 *   vms.h          the VMs, their consoles' hubs and input, the images
 *   events.h       the host's event log (vms_events()) and its watchers
 *   console-hub.h  watching one console's log
 *   console-log.h  reading one console's log (console-index.h: its boots and times)
 *   host.h         the machine: GET /v1/host
 *   xen.h          the hypervisor's handles host.h reads from */
#pragma once

#include "console-hub.h"
#include "console-log.h"
#include "errors.h"
#include "events.h"
#include "host.h"
#include "vm-spec.h"
#include "vm-state.h"
#include "vms.h"
#include "xen.h"
