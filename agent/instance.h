/* instance.h: owns the two identities the agent shows its clients, made
 * once per process: its instance id (random at each start of the agent)
 * and the host's boot id (Linux's; "" where there is none), 32 hex digits
 * each. Every HTTP answer carries them (X-Xvmd-Instance-Id, X-Xvmd-Boot-Id)
 * and the event log's agent_started says them, so the front end and the
 * core must agree on them: hence one owner in xvmd-base. */
#pragma once

#define INSTANCE_ID_MAX 33 /* 32 hex digits and the NUL */

/* The agent's instance id. Never fails: without randomness (getrandom(2)
 * refused) it is made of the time and the pid, which still differ from one
 * start to the next. */
const char *instance_id(void);

/* The host's boot id, or "" on a host without one. */
const char *instance_boot_id(void);
