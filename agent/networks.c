/* networks.c: owns the host's guest networks (see networks.h): their
 * records on disk, their bridges (through netlink.c) and one dnsmasq child
 * per network, its files written from net-addr.c's rules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "netlink.h"
#include "networks.h"
#include "vm-spec.h"

#define DNSMASQ_DEFAULT "/usr/sbin/dnsmasq"
#define RESTART_DELAY_MIN_US (1000ULL * 1000)
#define RESTART_DELAY_MAX_US (60ULL * 1000 * 1000)
/* dnsmasq installs its SIGHUP handler a moment after exec; a SIGHUP before
 * that would kill it. A reload waits (looking again this often) until
 * /proc/PID/status says dnsmasq catches SIGHUP. */
#define HUP_RETRY_US (100ULL * 1000)
#define LEASES_MAX_BYTES (1024 * 1024)  /* NETWORK_HOSTS_MAX lines and what the guests put in them */
#define LEASE_LINE_MAX 1024             /* longer lines are not dnsmasq's: skipped */

struct network {
        struct networks *owner;
        char name[NETWORK_NAME_MAX + 1];
        struct net_subnet subnet;
        unsigned index;                 /* the bridge is xvbr<index> */
        char bridge[NET_IFNAME_MAX + 1];
        bool bridge_up;
        pid_t dnsmasq;                  /* 0: not running */
        uint64_t started_us;            /* CLOCK_MONOTONIC of its start */
        unsigned restarts;              /* dnsmasq's, since the agent started */
        uint64_t delay_us;              /* before the next restart */
        bool reload;                    /* a SIGHUP waits for the grace above */
        bool stopping;
        sd_event_source *child, *timer;
        char dir[320];                  /* RUN/NAME: dnsmasq's files */
};

struct networks {
        sd_event *event;
        int dir_fd;                     /* STATE/networks */
        char run_dir[256];
        char dnsmasq[PATH_MAX];
        bool live;
        struct netlink *nl;             /* live only */
        struct netlink_watch *watch;    /* live only: link reports */
        sd_event_source *watch_source;
        networks_hosts_t hosts;
        void *hosts_userdata;
        networks_link_t link_fn;
        void *link_userdata;
        struct network *v[NETWORKS_MAX];
        size_t n;
};

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int write_file(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX], tmp[PATH_MAX];
        size_t len = strlen(text);
        int fd, r = 0;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
            (size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.new", dir, name) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        while (len > 0 && r == 0) {
                ssize_t w = write(fd, text, len);
                if (w < 0 && errno != EINTR)
                        r = negative_errno();
                else if (w > 0)
                        text += w, len -= (size_t) w;
        }
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r == 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];

        if ((size_t) snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *p = '/';
        }
        return mkdir(buf, mode) < 0 && errno != EEXIST ? negative_errno() : 0;
}

/* --- dnsmasq ---------------------------------------------------------------- */

static int write_hosts(struct network *net) {
        struct networks *n = net->owner;
        struct net_host *hosts = calloc(NETWORK_HOSTS_MAX, sizeof(*hosts));
        size_t count = 0;
        char *text = NULL;
        int r;

        if (!hosts)
                return -ENOMEM;
        if (n->hosts)
                count = n->hosts(net->name, hosts, NETWORK_HOSTS_MAX, n->hosts_userdata);
        r = net_dnsmasq_hosts(hosts, count, &text);
        if (r >= 0)
                r = write_file(net->dir, "hosts", text);
        free(text);
        free(hosts);
        return r;
}

static void schedule_restart(struct network *net);
static void bridge_ipv6_quiet(const char *bridge);

/* Whether process pid catches SIGHUP yet (the SigCgt mask of its status). */
static bool catches_sighup(pid_t pid) {
        char path[64], buf[4096];
        unsigned long long mask;
        ssize_t len;
        const char *p;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        len = read_full(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
                return false;
        buf[len] = 0;
        p = strstr(buf, "\nSigCgt:");
        return p && sscanf(p + 8, "%llx", &mask) == 1 && (mask & (1ULL << (SIGHUP - 1)));
}

static int on_dnsmasq_exit(sd_event_source *s _unused_, const siginfo_t *si, void *userdata) {
        struct network *net = userdata;

        net->child = sd_event_source_disable_unref(net->child);
        net->dnsmasq = 0;
        if (net->stopping)
                return 0;
        log_warning("network %s: dnsmasq %s %d, restarting it in %llu s", net->name,
                    si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si->si_status,
                    (unsigned long long) (net->delay_us / 1000000));
        schedule_restart(net);
        return 0;
}

static int dnsmasq_start(struct network *net) {
        struct networks *n = net->owner;
        char conf_path[PATH_MAX], hosts_path[PATH_MAX], leases_path[PATH_MAX], conf_arg[PATH_MAX + 16];
        struct net_dnsmasq_config c = {
                .bridge = net->bridge,
                .subnet = net->subnet,
                .hosts_path = hosts_path,
                .leases_path = leases_path,
                .lease_seconds = NETWORK_LEASE_SECONDS,
        };
        char *text = NULL;
        pid_t pid;
        int r;

        if ((size_t) snprintf(conf_path, sizeof(conf_path), "%s/dnsmasq.conf", net->dir) >= sizeof(conf_path) ||
            (size_t) snprintf(hosts_path, sizeof(hosts_path), "%s/hosts", net->dir) >= sizeof(hosts_path) ||
            (size_t) snprintf(leases_path, sizeof(leases_path), "%s/leases", net->dir) >= sizeof(leases_path))
                return -ENAMETOOLONG;
        snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s", conf_path);
        r = mkdir_p(net->dir, 0755);
        if (r >= 0)
                r = net_dnsmasq_conf(&c, &text);
        if (r >= 0)
                r = write_file(net->dir, "dnsmasq.conf", text);
        free(text);
        if (r >= 0)
                r = write_hosts(net);
        if (r < 0)
                return r;

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                /* The child: no signal blocked (the agent blocks the ones its
                 * loop takes), none of the agent's descriptors. */
                sigset_t none;
                int null = open("/dev/null", O_RDONLY);

                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (null >= 0 && null != 0) {
                        (void) dup2(null, 0);
                        (void) close(null);
                }
                (void) close_range(3, ~0U, 0);
                /* An agent that dies outside systemd's cgroup kill takes it
                 * along: the next agent's dnsmasq must serve alone. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() == 1)
                        _exit(1);
                execl(n->dnsmasq, "dnsmasq", "--keep-in-foreground", conf_arg, (char *) NULL);
                _exit(127);
        }
        r = sd_event_add_child(n->event, &net->child, pid, WEXITED, on_dnsmasq_exit, net);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        net->dnsmasq = pid;
        net->started_us = now_us();
        log_info("network %s: dnsmasq %d serves %s", net->name, (int) pid, net->bridge);
        return 0;
}

static int bridge_up(struct network *net, struct error *err);
static void reload(struct network *net);

static int on_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct network *net = userdata;
        struct error err = { 0 };
        int r;

        net->timer = sd_event_source_disable_unref(net->timer);
        if (net->dnsmasq) {
                if (net->reload)
                        reload(net);    /* the reload that waited for dnsmasq's handler */
                return 0;
        }
        net->restarts++;
        /* The bridge first: someone may have removed it. */
        r = bridge_up(net, &err);
        if (r < 0)
                log_warning("network %s: %s", net->name, err.message);
        if (r >= 0)
                r = dnsmasq_start(net);
        if (r < 0) {
                if (r != err.r)
                        log_warning_errno(r, "network %s: starting dnsmasq failed", net->name);
                net->started_us = 0;    /* it did not run: the delay keeps growing */
                schedule_restart(net);
        }
        return 0;
}

static void schedule_restart(struct network *net) {
        uint64_t delay = net->delay_us ? net->delay_us : RESTART_DELAY_MIN_US;
        int r;

        /* Ran long enough: the next failure starts over at the shortest wait. */
        if (net->started_us && now_us() - net->started_us > RESTART_DELAY_MAX_US)
                delay = RESTART_DELAY_MIN_US;
        net->delay_us = delay * 2 > RESTART_DELAY_MAX_US ? RESTART_DELAY_MAX_US : delay * 2;
        net->timer = sd_event_source_disable_unref(net->timer);
        r = sd_event_add_time_relative(net->owner->event, &net->timer, CLOCK_MONOTONIC, delay, 0, on_timer, net);
        if (r < 0)
                log_warning_errno(r, "network %s: cannot schedule dnsmasq's restart", net->name);
}

static void dnsmasq_stop(struct network *net) {
        net->stopping = true;
        net->timer = sd_event_source_disable_unref(net->timer);
        if (net->dnsmasq) {
                /* Reaped here (dnsmasq exits at once on SIGTERM; SIGKILL after
                 * a second): the child source goes first, so no callback. */
                (void) kill(net->dnsmasq, SIGTERM);
                net->child = sd_event_source_disable_unref(net->child);
                for (int i = 0; i < 200; i++) {
                        pid_t p = waitpid(net->dnsmasq, NULL, WNOHANG);
                        if (p != 0)
                                break;
                        if (i == 100)
                                (void) kill(net->dnsmasq, SIGKILL);
                        (void) usleep(10 * 1000);
                }
                net->dnsmasq = 0;
        }
        net->child = sd_event_source_disable_unref(net->child);
}

/* SIGHUP makes dnsmasq read its hosts file again; until it catches the
 * signal, a timer asks again. */
static void reload(struct network *net) {
        net->reload = true;
        if (catches_sighup(net->dnsmasq) && kill(net->dnsmasq, SIGHUP) == 0) {
                net->reload = false;
                return;
        }
        if (!net->timer)
                (void) sd_event_add_time_relative(net->owner->event, &net->timer, CLOCK_MONOTONIC, HUP_RETRY_US, 0,
                                                  on_timer, net);
}

void network_hosts_changed(struct network *net) {
        struct networks *n = net->owner;
        int r;

        if (!n->live)
                return;
        r = write_hosts(net);
        if (r < 0) {
                log_warning_errno(r, "network %s: writing dnsmasq's hosts file failed", net->name);
                return;
        }
        if (net->dnsmasq)
                reload(net);    /* else it reads the file when it starts */
}

/* --- the collection ------------------------------------------------------- */

static struct network *network_free(struct network *net) {
        if (!net)
                return NULL;
        dnsmasq_stop(net);
        free(net);
        return NULL;
}

struct networks *networks_free(struct networks *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n; i++)
                network_free(n->v[i]);
        sd_event_source_disable_unref(n->watch_source);
        netlink_watch_free(n->watch);
        netlink_free(n->nl);
        safe_close(n->dir_fd);
        sd_event_unref(n->event);
        free(n);
        return NULL;
}

static int bridge_up(struct network *net, struct error *err) {
        struct networks *n = net->owner;
        int r;

        if (!n->live)
                return 0;
        r = netlink_bridge_ensure(n->nl, net->bridge, net_subnet_gateway(&net->subnet), net->subnet.prefix, err);
        if (r < 0)
                return r;
        bridge_ipv6_quiet(net->bridge);
        net->bridge_up = true;
        return 0;
}

static int network_save(struct network *net) {
        char subnet[NET_SUBNET_STRLEN], file[NETWORK_NAME_MAX + 8];
        json_t *j;
        int r;

        net_subnet_format(&net->subnet, subnet);
        j = json_pack("{s:s,s:s,s:I}", "name", net->name, "subnet", subnet, "bridge", (json_int_t) net->index);
        if (!j)
                return -ENOMEM;
        snprintf(file, sizeof(file), "%s.json", net->name);
        r = json_write_atomic(net->owner->dir_fd, file, j);
        json_decref(j);
        return r;
}

static struct network *network_alloc(struct networks *n, const char *name, const struct net_subnet *s,
                                     unsigned index) {
        struct network *net = calloc(1, sizeof(*net));

        if (!net)
                return NULL;
        net->owner = n;
        snprintf(net->name, sizeof(net->name), "%s", name);
        net->subnet = *s;
        net->index = index;
        snprintf(net->bridge, sizeof(net->bridge), "xvbr%u", index);
        snprintf(net->dir, sizeof(net->dir), "%s/%s", n->run_dir, name);
        return net;
}

static bool index_used(const struct networks *n, unsigned index) {
        for (size_t i = 0; i < n->n; i++)
                if (n->v[i]->index == index)
                        return true;
        return false;
}

static void load_one(struct networks *n, const char *file) {
        json_t *j = json_read_at(n->dir_fd, file);
        const char *name = NULL, *subnet = NULL;
        json_int_t index = -1;
        struct net_subnet s;
        struct network *net;
        char expect[NETWORK_NAME_MAX + 8];

        if (!j || json_unpack(j, "{s:s,s:s,s:I}", "name", &name, "subnet", &subnet, "bridge", &index) < 0 ||
            !spec_name_is_valid(name, NETWORK_NAME_MAX) || net_subnet_parse(subnet, "subnet", &s, NULL) < 0 ||
            index < 0 || index > 9999 || index_used(n, (unsigned) index) || networks_find(n, name) ||
            n->n >= NETWORKS_MAX) {
                log_warning("networks/%s: not a network this agent can use, ignoring it", file);
                json_decref(j);
                return;
        }
        snprintf(expect, sizeof(expect), "%s.json", name);
        if (strcmp(expect, file) != 0) {
                log_warning("networks/%s names network %s, ignoring it", file, name);
                json_decref(j);
                return;
        }
        net = network_alloc(n, name, &s, (unsigned) index);
        json_decref(j);
        if (net)
                n->v[n->n++] = net;
}

static void load(struct networks *n) {
        int fd = dup(n->dir_fd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!d) {
                safe_close(fd);
                return;
        }
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] != '.' && len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
                        load_one(n, de->d_name);
        }
        closedir(d);
}

static unsigned free_index(const struct networks *n) {
        unsigned i = 0;

        while (index_used(n, i))
                i++;
        return i;
}

/* An IPv4 subnet dom0 is on (other than the agent's bridges') that s
 * overlaps: one of its addresses in s, or s inside one of its subnets (a
 * bridge route more specific than the uplink's would take dom0's gateway). */
static bool dom0_overlaps(const struct networks *n, const struct net_subnet *s, char *ifname, size_t size) {
        struct ifaddrs *ifa, *i;
        bool found = false;

        if (!n->live || getifaddrs(&ifa) < 0)
                return false;
        for (i = ifa; i && !found; i = i->ifa_next) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) (const void *) i->ifa_addr;
                const struct sockaddr_in *mask = (const struct sockaddr_in *) (const void *) i->ifa_netmask;
                struct net_subnet own;
                uint32_t addr, m;

                if (!sin || sin->sin_family != AF_INET || strncmp(i->ifa_name, "xvbr", 4) == 0)
                        continue;
                addr = ntohl(sin->sin_addr.s_addr);
                m = mask && mask->sin_family == AF_INET ? ntohl(mask->sin_addr.s_addr) : UINT32_MAX;
                own = (struct net_subnet) { .network = addr & m, .prefix = (uint8_t) __builtin_popcount(m) };
                if (net_subnet_contains(s, addr) || net_subnet_overlaps(s, &own)) {
                        snprintf(ifname, size, "%s", i->ifa_name);
                        found = true;
                }
        }
        freeifaddrs(ifa);
        return found;
}

/* Neither router advertisements nor address autoconfiguration from guests:
 * a guest must not give dom0 an IPv6 address or route. */
static void bridge_ipv6_quiet(const char *bridge) {
        static const char *const knobs[] = { "accept_ra", "autoconf" };
        char path[128];

        for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
                int fd;

                snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", bridge, knobs[i]);
                fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write(fd, "0", 1) != 1)
                        log_warning_errno(negative_errno(), "%s: cannot set %s to 0", bridge, knobs[i]);
                safe_close(fd);
        }
}

static int check_subnet(const struct networks *n, const struct net_subnet *s, struct error *err) {
        char text[NET_SUBNET_STRLEN], other[NET_SUBNET_STRLEN], ifname[64];

        net_subnet_format(s, text);
        for (size_t i = 0; i < n->n; i++)
                if (net_subnet_overlaps(s, &n->v[i]->subnet)) {
                        net_subnet_format(&n->v[i]->subnet, other);
                        return error_set(err, -EEXIST, ERROR_SUBNET_OVERLAP, "subnet",
                                         "subnet %s overlaps network %s (%s)", text, n->v[i]->name, other);
                }
        if (dom0_overlaps(n, s, ifname, sizeof(ifname)))
                return error_set(err, -EEXIST, ERROR_SUBNET_OVERLAP, "subnet",
                                 "subnet %s overlaps the network of dom0's interface %s", text, ifname);
        return 0;
}

static void link_reported(const char *name, void *userdata) {
        struct networks *n = userdata;

        if (n->link_fn)
                n->link_fn(name, n->link_userdata);
}

static int on_link_reports(sd_event_source *s, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        struct networks *n = userdata;
        int r = netlink_watch_read(n->watch, link_reported, n);

        if (r == -ENOBUFS) {
                log_info("link reports were dropped; looking at every vif waited for");
                link_reported(NULL, n);
        } else if (r < 0) {
                /* Not one the socket recovers from: stop rather than spin. */
                log_error_errno(r, "reading link reports failed; vifs made from now on are not put on bridges");
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        return 0;
}

void networks_set_link_watch(struct networks *n, networks_link_t fn, void *userdata) {
        n->link_fn = fn;
        n->link_userdata = userdata;
}

int networks_new(sd_event *event, const struct networks_config *c, struct networks **ret) {
        struct networks *n = calloc(1, sizeof(*n));
        struct error err = { 0 };
        int state_fd, r;

        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(event);
        n->dir_fd = -1;
        n->live = c->live;
        snprintf(n->run_dir, sizeof(n->run_dir), "%s", c->run_dir ? c->run_dir : NETWORKS_RUN_DIR);
        snprintf(n->dnsmasq, sizeof(n->dnsmasq), "%s", c->dnsmasq ? c->dnsmasq : DNSMASQ_DEFAULT);
        state_fd = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = open_dir_at(state_fd, "networks", &n->dir_fd);
        safe_close(state_fd);
        if (r < 0)
                goto fail;
        if (n->live) {
                r = netlink_open(&n->nl, &err);
                if (r >= 0)
                        r = netlink_watch_open(&n->watch, &err);
                if (r >= 0) {
                        r = sd_event_add_io(n->event, &n->watch_source, netlink_watch_fd(n->watch), EPOLLIN,
                                            on_link_reports, n);
                        if (r < 0)
                                error_set(&err, r, ERROR_INTERNAL, NULL, "watching link reports: %s", strerror(-r));
                }
                if (r < 0) {
                        log_warning_errno(r, "%s: guest networks will have no bridges", err.message);
                        n->watch_source = sd_event_source_disable_unref(n->watch_source);
                        n->watch = netlink_watch_free(n->watch);
                        n->nl = netlink_free(n->nl);
                        n->live = false;
                }
        }
        load(n);
        if (!networks_find(n, NETWORK_DEFAULT)) {
                const char *subnet = c->default_subnet ? c->default_subnet : NETWORK_DEFAULT_SUBNET;
                struct net_subnet s;

                err = (struct error) { 0 };
                r = net_subnet_parse(subnet, "default_subnet", &s, &err);
                if (r >= 0)
                        r = check_subnet(n, &s, &err);
                if (r < 0) {
                        log_error("the default network: %s", err.message);
                        goto fail;
                }
                if (n->n >= NETWORKS_MAX) {
                        log_error("networks/ holds %d networks and no default one", NETWORKS_MAX);
                        r = -E2BIG;
                        goto fail;
                }
                n->v[n->n] = network_alloc(n, NETWORK_DEFAULT, &s, free_index(n));
                if (!n->v[n->n]) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = network_save(n->v[n->n++]);
                if (r < 0)
                        log_warning_errno(r, "saving the default network failed, ignoring");
        }
        for (size_t i = 0; i < n->n; i++) {
                err = (struct error) { 0 };
                if (bridge_up(n->v[i], &err) < 0)
                        log_warning("network %s: %s", n->v[i]->name, err.message);
        }
        *ret = n;
        return 0;
fail:
        networks_free(n);
        return r;
}

void networks_set_hosts_source(struct networks *n, networks_hosts_t hosts, void *userdata) {
        n->hosts = hosts;
        n->hosts_userdata = userdata;
        if (!n->live)
                return;
        (void) mkdir_p(n->run_dir, 0755);
        for (size_t i = 0; i < n->n; i++) {
                struct network *net = n->v[i];
                int r;

                if (net->dnsmasq)
                        continue;
                if (!net->bridge_up) {
                        schedule_restart(net);  /* its timer makes the bridge first */
                        continue;
                }
                r = dnsmasq_start(net);
                if (r < 0) {
                        log_warning_errno(r, "network %s: starting dnsmasq failed", net->name);
                        schedule_restart(net);
                }
        }
}

struct network *networks_find(const struct networks *n, const char *name) {
        for (size_t i = 0; i < n->n; i++)
                if (strcmp(n->v[i]->name, name) == 0)
                        return n->v[i];
        return NULL;
}

size_t networks_count(const struct networks *n) {
        return n->n;
}

struct network *networks_get(const struct networks *n, size_t i) {
        return i < n->n ? n->v[i] : NULL;
}

int networks_create(struct networks *n, const char *name, const char *subnet, struct network **ret,
                    struct error *err) {
        struct net_subnet s;
        struct network *net;
        int r;

        if (!spec_name_is_valid(name, NETWORK_NAME_MAX))
                return error_set(err, -EINVAL, ERROR_INVALID_NAME, "name",
                                 "a network's name is 1 to %d characters of A-Z a-z 0-9 . _ -, not starting with . or -",
                                 NETWORK_NAME_MAX);
        if (networks_find(n, name))
                return error_set(err, -EEXIST, ERROR_ALREADY_EXISTS, "name", "a network named %s exists", name);
        if (n->n >= NETWORKS_MAX)
                return error_set(err, -ENOSPC, ERROR_TOO_MANY_NETWORKS, NULL, "this host keeps at most %d networks",
                                 NETWORKS_MAX);
        r = net_subnet_parse(subnet, "subnet", &s, err);
        if (r < 0)
                return r;
        r = check_subnet(n, &s, err);
        if (r < 0)
                return r;
        net = network_alloc(n, name, &s, free_index(n));
        if (!net)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
        r = bridge_up(net, err);
        if (r < 0) {
                free(net);
                return r;
        }
        r = network_save(net);
        if (r < 0) {
                if (n->live)
                        (void) netlink_link_delete(n->nl, net->bridge, NULL);
                free(net);
                return error_set(err, r, ERROR_INTERNAL, NULL, "saving the network failed: %s", strerror(-r));
        }
        n->v[n->n++] = net;
        if (n->live) {
                (void) mkdir_p(n->run_dir, 0755);
                r = dnsmasq_start(net);
                if (r < 0) {
                        log_warning_errno(r, "network %s: starting dnsmasq failed", net->name);
                        schedule_restart(net);
                }
        }
        if (ret)
                *ret = net;
        return 0;
}

static void remove_run_files(struct network *net) {
        static const char *const files[] = { "dnsmasq.conf", "hosts", "leases", ".hosts.new", ".dnsmasq.conf.new" };
        char path[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof(path), "%s/%s", net->dir, files[i]);
                (void) unlink(path);
        }
        (void) rmdir(net->dir);
}

int networks_delete(struct networks *n, struct network *net, struct error *err) {
        char file[NETWORK_NAME_MAX + 8];
        size_t i;
        int r;

        if (strcmp(net->name, NETWORK_DEFAULT) == 0)
                return error_set(err, -EPERM, ERROR_NETWORK_IN_USE, "name", "the default network cannot be deleted");
        for (i = 0; i < n->n && n->v[i] != net; i++)
                ;
        if (i == n->n)
                return error_set(err, -ENOENT, ERROR_NETWORK_NOT_FOUND, "name", "there is no network named %s",
                                 net->name);
        dnsmasq_stop(net);
        if (n->live) {
                r = netlink_link_delete(n->nl, net->bridge, err);
                if (r < 0) {
                        net->stopping = false;
                        if (dnsmasq_start(net) < 0)
                                schedule_restart(net);
                        return r;
                }
        }
        snprintf(file, sizeof(file), "%s.json", net->name);
        if (unlinkat(n->dir_fd, file, 0) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "network %s: removing its record failed", net->name);
        remove_run_files(net);
        n->v[i] = n->v[--n->n];
        network_free(net);
        return 0;
}

const char *network_name(const struct network *net) {
        return net->name;
}

const struct net_subnet *network_subnet(const struct network *net) {
        return &net->subnet;
}

const char *network_bridge(const struct network *net) {
        return net->bridge;
}

bool network_active(const struct network *net) {
        return net->bridge_up && net->dnsmasq != 0 && netlink_link_index(net->owner->nl, net->bridge) >= 0;
}

static char *read_leases(const struct network *net, size_t *ret_len) {
        char path[PATH_MAX];
        char *buf;
        ssize_t len;
        int fd;

        snprintf(path, sizeof(path), "%s/leases", net->dir);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        buf = malloc(LEASES_MAX_BYTES);
        len = buf ? read_full(fd, buf, LEASES_MAX_BYTES) : -1;
        close(fd);
        if (len < 0) {
                free(buf);
                return NULL;
        }
        *ret_len = (size_t) len;
        return buf;
}

int network_lease(const struct network *net, const uint8_t mac[static 6], uint32_t *ret_addr, uint64_t *ret_expiry) {
        size_t len = 0;
        char *text = read_leases(net, &len);
        int r;

        if (!text)
                return -ENOENT;
        uint64_t expiry = 0;

        r = net_leases_find(text, len, mac, ret_addr, &expiry);
        free(text);
        if (r == 0 && expiry != 0 && expiry <= (uint64_t) time(NULL))
                return -ENOENT;
        if (r == 0 && ret_expiry)
                *ret_expiry = expiry;
        return r;
}

bool network_address_leased_elsewhere(const struct network *net, uint32_t addr, const uint8_t mac[static 6]) {
        size_t len = 0, start = 0;
        char *text = read_leases(net, &len);
        bool found = false;

        if (!text)
                return false;
        /* Each line's first three fields, as net_leases_find() reads them. */
        while (start < len && !found) {
                const char *nl = memchr(text + start, '\n', len - start);
                size_t end = nl ? (size_t) (nl - text) : len, l = end - start;
                unsigned long long expiry;
                char line[LEASE_LINE_MAX], macs[18], addrs[16];
                uint8_t m[6];
                uint32_t a;

                if (l < sizeof(line)) {
                        memcpy(line, text + start, l);
                        line[l] = 0;
                        if (sscanf(line, "%llu %17s %15s ", &expiry, macs, addrs) == 3 &&
                            net_mac_parse(macs, "mac", m, NULL) == 0 && !net_mac_equal(m, mac) &&
                            net_leases_find(line, l, m, &a, NULL) == 0 && a == addr &&
                            (expiry == 0 || expiry > (unsigned long long) time(NULL)))
                                found = true;
                }
                start = end + 1;
        }
        free(text);
        return found;
}

int network_plug(struct network *net, const char *ifname, struct error *err) {
        if (!net->owner->live)
                return error_set(err, -EOPNOTSUPP, ERROR_XEN_UNAVAILABLE, NULL, "the agent makes no bridges here");
        return netlink_link_enslave(net->owner->nl, ifname, net->bridge, err);
}

int networks_link_stats(struct networks *n, const char *ifname, struct netlink_link_stats *ret) {
        if (!n->live)
                return -EOPNOTSUPP;
        return netlink_link_stats(n->nl, ifname, ret, NULL);
}

json_t *network_to_json(const struct network *net, unsigned nics) {
        char subnet[NET_SUBNET_STRLEN], gateway[NET_ADDR_STRLEN];

        net_subnet_format(&net->subnet, subnet);
        net_addr_format(net_subnet_gateway(&net->subnet), gateway);
        return json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:{s:b,s:I}}", "name", net->name, "subnet", subnet, "gateway",
                         gateway, "bridge", net->bridge, "active", network_active(net), "nics", (json_int_t) nics,
                         "dhcp", "running", net->dnsmasq != 0, "restarts", (json_int_t) net->restarts);
}
