/* console-ws.h: owns the websocket viewers of the VMs' consoles (the
 * protocol is api/console-websocket.md): for each console someone watches, a
 * room with its viewers, each reading the console's log from its own cursor
 * at its own pace, the writer lease, and the control messages. The room
 * learns of new output, state changes and the VM's deletion as a watcher of
 * the console's hub (console-hub.h); the viewers' sockets come from the HTTP
 * server's upgrades. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "core.h"

#define CONSOLE_VIEWERS_MAX 64                    /* per console */
#define CONSOLE_VIEWERS_TOTAL_MAX 128             /* in all: HTTP connections stay free for the API */
#define CONSOLE_VIEWER_QUEUE (64 * 1024)          /* queued to one viewer's socket at a time */
#define CONSOLE_VIEWER_SNDBUF (16 * 1024)         /* the kernel's send buffer of a viewer's socket */
/* A viewer whose socket took none of its bytes for this long while its
 * queue was full, and that is further behind than LAG_MAX when its queue
 * drains, is moved on to LAG_KEEP before the end. */
#define CONSOLE_VIEWER_STALL_USEC (5ULL * 1000 * 1000)
#define CONSOLE_VIEWER_LAG_MAX (128 * 1024)
#define CONSOLE_VIEWER_LAG_KEEP (64 * 1024)
#define CONSOLE_WS_MESSAGE_MAX (64 * 1024)        /* longest message from a viewer (input) */
#define CONSOLE_WS_CLOSE_VM_DELETED 4404

struct console_ws;
struct error;

int console_ws_new(sd_event *event, struct vms *vms, struct console_ws **ret);
/* Closes every viewer (1001, the agent is stopping) and frees the hubs. */
struct console_ws *console_ws_free(struct console_ws *h);
DEFINE_CLEANUP_FUNC(struct console_ws, console_ws_free);

/* Before the upgrade: whether one more viewer may join this console. Fills
 * *err (too_many_viewers) when not. */
int console_ws_admit(struct console_ws *h, struct vm *vm, enum vm_console c, struct error *err);

/* How many viewers watch console c of vm, and whether one of them holds
 * the writer lease (for the metrics). */
unsigned console_ws_viewers(const struct console_ws *h, const struct vm *vm, enum vm_console c, bool *ret_writer);

/* After the upgrade: the viewer of console c of the VM named vm_name on fd,
 * starting at log offset from (or the log's end when !from_set). extra holds
 * bytes the HTTP server read past the request. done(done_arg) is called
 * once the viewer no longer uses fd, which it then closes; it may come
 * before this returns (e.g. the VM went away meanwhile). */
void console_ws_join(struct console_ws *h, const char *vm_name, enum vm_console c, bool from_set, uint64_t from,
                     int fd, const void *extra, size_t extra_size, void (*done)(void *arg), void *done_arg);
