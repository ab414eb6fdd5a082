/* netlink.c: owns the agent's rtnetlink socket and its requests (see
 * netlink.h). Each request carries the next sequence number and NLM_F_ACK
 * (a dump ends with NLMSG_DONE instead); transact() reads answers until the
 * one that ends it, skipping any that carry another sequence number (the
 * late answers to a request that timed out), and returns the kernel's
 * error from that ACK. The socket asks for extended ACKs without the
 * request echoed (NETLINK_EXT_ACK, NETLINK_CAP_ACK), so an error comes with
 * the kernel's own message where it has one. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "netlink.h"

#define NETLINK_ANSWER_MAX 32768        /* a datagram of answers (the kernel's dumps stay within 32 KiB) */
#define NETLINK_REQUEST_MAX 1024        /* a request: a header, a name, a few attributes */
#define NETLINK_DUMP_TRIES 4            /* dumps the kernel found inconsistent (NLM_F_DUMP_INTR), retried */
#define NETLINK_ADDRS_MAX 64            /* other IPv4 addresses a bridge may lose in one call */
#define NETLINK_WATCH_RCVBUF (256 * 1024) /* the link watch's queue in the kernel */

struct netlink {
        struct mnl_socket *sock;
        uint32_t portid;
        uint32_t seq;
        char ext[128];                  /* the kernel's message for the last error, or "" */
        _Alignas(struct nlmsghdr) char answer[NETLINK_ANSWER_MAX];
};

/* What RTM_NEWLINK says of one link. */
struct link {
        int index;
        unsigned flags;                 /* IFF_* */
        uint32_t mtu;
        uint32_t master;                /* ifindex, 0 if none */
        char name[NETLINK_IFNAME_MAX];
        char kind[NETLINK_IFNAME_MAX];  /* IFLA_INFO_KIND, "" for a link without one */
        bool has_stats;
        struct netlink_link_stats stats;
};

/* A request's buffer, aligned for the header libmnl writes at its start. */
union request {
        struct nlmsghdr header;
        char buf[NETLINK_REQUEST_MAX];
};

typedef int (*answer_fn)(const struct nlmsghdr *nlh, void *userdata);

/* A failed step: internal_error, naming the step, the errno in words and
 * the kernel's message if it sent one. */
_printf_(4, 5)
static int fail(struct netlink *nl, struct error *err, int r, const char *format, ...) {
        char what[160];
        va_list ap;

        va_start(ap, format);
        vsnprintf(what, sizeof(what), format, ap);
        va_end(ap);
        if (nl && nl->ext[0])
                return error_set(err, r, ERROR_INTERNAL, NULL, "netlink: %s: %s (%s)", what, strerror(-r), nl->ext);
        return error_set(err, r, ERROR_INTERNAL, NULL, "netlink: %s: %s", what, strerror(-r));
}

/* The kernel's names: 1 to 15 bytes, not "." or "..", no '/' or ':' (both
 * refused by the kernel), no whitespace or other control characters. */
static bool ifname_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, NETLINK_IFNAME_MAX);
        if (n == 0 || n >= NETLINK_IFNAME_MAX)
                return false;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) name[i];

                if (c <= ' ' || c == 0x7f || c == '/' || c == ':')
                        return false;
        }
        return true;
}

static int check_ifname(const char *name, struct error *err) {
        char shown[24];
        size_t i;

        if (ifname_valid(name))
                return 0;
        /* Shown with anything unprintable as '?', and cut short. */
        for (i = 0; name && name[i] && i < sizeof(shown) - 1; i++)
                shown[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
        shown[i] = '\0';
        return error_set(err, -EINVAL, ERROR_INVALID_NAME, NULL,
                         "invalid interface name \"%s%s\": 1 to 15 bytes, no '/', ':' or whitespace",
                         shown, name && name[i] ? "..." : "");
}

int netlink_open(struct netlink **ret, struct error *err) {
        _cleanup_(netlink_freep) struct netlink *nl = calloc(1, sizeof(*nl));
        struct timeval timeout = {
                .tv_sec = NETLINK_TIMEOUT_MS / 1000,
                .tv_usec = (NETLINK_TIMEOUT_MS % 1000) * 1000,
        };
        int one = 1;

        if (!nl)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "netlink: out of memory");
        nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl->sock)
                return fail(NULL, err, negative_errno(), "opening a NETLINK_ROUTE socket");
        if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
                return fail(NULL, err, negative_errno(), "binding the socket");
        if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
                return fail(NULL, err, negative_errno(), "setting SO_RCVTIMEO");
        /* Only the error messages depend on these (kernels before 4.12
         * have no extended ACK), so a kernel without them is no failure. */
        (void) mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
        (void) mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
        nl->portid = mnl_socket_get_portid(nl->sock);
        nl->seq = (uint32_t) time(NULL);
        *ret = TAKE_PTR(nl);
        return 0;
}

struct netlink *netlink_free(struct netlink *nl) {
        if (!nl)
                return NULL;
        if (nl->sock)
                mnl_socket_close(nl->sock);
        free(nl);
        return NULL;
}

struct netlink_watch {
        struct mnl_socket *sock;
        _Alignas(struct nlmsghdr) char buf[NETLINK_ANSWER_MAX];
};

int netlink_watch_open(struct netlink_watch **ret, struct error *err) {
        _cleanup_(netlink_watch_freep) struct netlink_watch *w = calloc(1, sizeof(*w));
        int size = NETLINK_WATCH_RCVBUF;

        if (!w)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "netlink: out of memory");
        w->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!w->sock)
                return fail(NULL, err, negative_errno(), "opening a NETLINK_ROUTE socket for link reports");
        if (mnl_socket_bind(w->sock, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0)
                return fail(NULL, err, negative_errno(), "subscribing to link reports");
        /* Room for a burst (a bridge's ports all changing); past it the
         * kernel drops reports and says so (ENOBUFS), which costs a look at
         * every waited-for link, not a lost vif. */
        (void) setsockopt(mnl_socket_get_fd(w->sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        *ret = TAKE_PTR(w);
        return 0;
}

struct netlink_watch *netlink_watch_free(struct netlink_watch *w) {
        if (!w)
                return NULL;
        if (w->sock)
                mnl_socket_close(w->sock);
        free(w);
        return NULL;
}

int netlink_watch_fd(const struct netlink_watch *w) {
        return mnl_socket_get_fd(w->sock);
}

static int parse_link(const struct nlmsghdr *nlh, struct link *ret);

int netlink_watch_read(struct netlink_watch *w, netlink_link_fn fn, void *userdata) {
        for (int i = 0; i < NETLINK_WATCH_BATCH; i++) {
                ssize_t n = recv(mnl_socket_get_fd(w->sock), w->buf, sizeof(w->buf), MSG_DONTWAIT);
                const struct nlmsghdr *nlh;
                int len;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return negative_errno();        /* ENOBUFS: reports were dropped */
                }
                len = (int) n;
                for (nlh = (const struct nlmsghdr *) w->buf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        struct link l;

                        /* A report only makes the caller look: one that
                         * is not true (only root may send to the group)
                         * costs a look, nothing more. */
                        if (nlh->nlmsg_type != RTM_NEWLINK)
                                continue;
                        if (parse_link(nlh, &l) < 0 || !ifname_valid(l.name))
                                continue;
                        fn(l.name, userdata);
                }
        }
        return 0;
}

static int ext_attr(const struct nlattr *attr, void *userdata) {
        struct netlink *nl = userdata;

        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                snprintf(nl->ext, sizeof(nl->ext), "%s", mnl_attr_get_str(attr));
        return MNL_CB_OK;
}

/* The extended ACK's attributes after offset bytes of nlh's payload. */
static void read_ext(struct netlink *nl, const struct nlmsghdr *nlh, size_t offset) {
        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || MNL_ALIGN(offset) > mnl_nlmsg_get_payload_len(nlh))
                return;
        (void) mnl_attr_parse(nlh, (unsigned) offset, ext_attr, nl);
}

/* Sends req and reads its answers, passing every other message to fn (if
 * not NULL), until its ACK or, for a dump, its NLMSG_DONE. Returns the
 * kernel's error, else fn's first error, else 0; -EAGAIN for a dump the
 * kernel marked inconsistent; -ETIMEDOUT when an answer took longer than
 * NETLINK_TIMEOUT_MS. Whether req is a dump is said, not read from its
 * flags: NLM_F_DUMP's bits are NLM_F_REPLACE's and NLM_F_EXCL's too. */
static int transact(struct netlink *nl, struct nlmsghdr *req, bool dump, answer_fn fn, void *userdata) {
        bool interrupted = false;
        uint32_t seq = ++nl->seq;
        int fn_r = 0;
        ssize_t n;

        nl->ext[0] = '\0';
        req->nlmsg_seq = seq;
        if (dump)
                req->nlmsg_flags |= NLM_F_DUMP;
        else
                req->nlmsg_flags |= NLM_F_ACK;
        n = mnl_socket_sendto(nl->sock, req, req->nlmsg_len);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != req->nlmsg_len)
                return -EIO;

        for (;;) {
                const struct nlmsghdr *nlh;
                int len;

                n = mnl_socket_recvfrom(nl->sock, nl->answer, sizeof(nl->answer));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return -ETIMEDOUT;
                        if (errno == ENOSPC)
                                return -EMSGSIZE;       /* cut short: larger than NETLINK_ANSWER_MAX */
                        return negative_errno();
                }
                len = (int) n;
                for (nlh = (const struct nlmsghdr *) nl->answer; mnl_nlmsg_ok(nlh, len);
                     nlh = mnl_nlmsg_next(nlh, &len)) {
                        if (nlh->nlmsg_seq != seq || !mnl_nlmsg_portid_ok(nlh, nl->portid))
                                continue;       /* an answer to an earlier request */
                        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                                interrupted = true;

                        if (nlh->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                                size_t offset = sizeof(*e);

                                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
                                        return -EBADMSG;
                                if (e->error == 0)
                                        return fn_r;    /* the ACK */
                                if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                                        offset += mnl_nlmsg_get_payload_len(&e->msg);
                                read_ext(nl, nlh, offset);
                                return e->error < 0 ? e->error : -EIO;
                        }
                        if (nlh->nlmsg_type == NLMSG_DONE) {
                                int r = 0;

                                if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int))
                                        memcpy(&r, mnl_nlmsg_get_payload(nlh), sizeof(int));
                                if (r < 0) {
                                        read_ext(nl, nlh, sizeof(int));
                                        return r;
                                }
                                return fn_r < 0 ? fn_r : interrupted ? -EAGAIN : 0;
                        }
                        if (nlh->nlmsg_type == NLMSG_NOOP)
                                continue;
                        if (nlh->nlmsg_type == NLMSG_OVERRUN)
                                return -EIO;
                        if (fn && fn_r == 0)
                                fn_r = fn(nlh, userdata);
                }
        }
}

/* A dump, once more for each one the kernel found inconsistent (a link or
 * an address changed while it ran); reset (if not NULL) clears what fn
 * gathered before a retry. */
static int transact_dump(struct netlink *nl, struct nlmsghdr *req, answer_fn fn, void *userdata,
                         void (*reset)(void *userdata)) {
        int r = -EAGAIN;

        for (int i = 0; i < NETLINK_DUMP_TRIES && r == -EAGAIN; i++) {
                if (reset)
                        reset(userdata);
                r = transact(nl, req, true, fn, userdata);
        }
        return r;
}

/* A link request: RTM_*LINK with an ifinfomsg for index (0: by name). */
static struct nlmsghdr *put_link_request(union request *req, uint16_t type, uint16_t flags, int index) {
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        memset(req, 0, sizeof(*req));
        nlh = mnl_nlmsg_put_header(req->buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = index;
        return nlh;
}

static int link_info_attr(const struct nlattr *attr, void *userdata) {
        struct link *l = userdata;

        if (mnl_attr_get_type(attr) != IFLA_INFO_KIND)
                return MNL_CB_OK;
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
                return MNL_CB_ERROR;
        snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(attr));
        return MNL_CB_OK;
}

static int link_attr(const struct nlattr *attr, void *userdata) {
        struct link *l = userdata;
        struct rtnl_link_stats64 s = { 0 };

        switch (mnl_attr_get_type(attr)) {
        case IFLA_IFNAME:
                if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 ||
                    mnl_attr_get_payload_len(attr) > NETLINK_IFNAME_MAX)
                        return MNL_CB_ERROR;
                snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(attr));
                break;
        case IFLA_MTU:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_ERROR;
                l->mtu = mnl_attr_get_u32(attr);
                break;
        case IFLA_MASTER:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_ERROR;
                l->master = mnl_attr_get_u32(attr);
                break;
        case IFLA_LINKINFO:
                if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0 ||
                    mnl_attr_parse_nested(attr, link_info_attr, l) < 0)
                        return MNL_CB_ERROR;
                break;
        case IFLA_STATS64:
                /* The four counters come first; an older or newer kernel's
                 * struct may be shorter or longer than ours. The payload
                 * is only 4-byte aligned: copied, not cast. */
                if (mnl_attr_get_payload_len(attr) < offsetof(struct rtnl_link_stats64, rx_errors))
                        return MNL_CB_ERROR;
                memcpy(&s, mnl_attr_get_payload(attr),
                       mnl_attr_get_payload_len(attr) < sizeof(s) ? mnl_attr_get_payload_len(attr) : sizeof(s));
                l->stats = (struct netlink_link_stats) {
                        .rx_bytes = s.rx_bytes,
                        .rx_packets = s.rx_packets,
                        .tx_bytes = s.tx_bytes,
                        .tx_packets = s.tx_packets,
                };
                l->has_stats = true;
                break;
        }
        return MNL_CB_OK;
}

static int parse_link(const struct nlmsghdr *nlh, struct link *ret) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

        if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
                return -EBADMSG;
        *ret = (struct link) {
                .index = ifi->ifi_index,
                .flags = ifi->ifi_flags,
        };
        if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr, ret) < 0)
                return -EBADMSG;
        return 0;
}

struct get_link {
        struct link *link;
        bool found;
};

static int on_link(const struct nlmsghdr *nlh, void *userdata) {
        struct get_link *g = userdata;
        int r;

        if (g->found || nlh->nlmsg_type != RTM_NEWLINK)
                return 0;
        r = parse_link(nlh, g->link);
        if (r < 0)
                return r;
        g->found = true;
        return 0;
}

/* The link of that name (index 0) or index; -ENODEV if there is none. */
static int get_link(struct netlink *nl, const char *name, int index, struct link *ret) {
        union request req;
        struct nlmsghdr *nlh = put_link_request(&req, RTM_GETLINK, 0, index);
        struct get_link g = { .link = ret };
        int r;

        if (index == 0)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        r = transact(nl, nlh, false, on_link, &g);
        if (r < 0)
                return r;
        return g.found ? 0 : -EBADMSG;
}

/* Sets flags (IFF_UP or 0) in IFF_UP. */
static int set_up(struct netlink *nl, int index, bool up) {
        union request req;
        struct nlmsghdr *nlh = put_link_request(&req, RTM_NEWLINK, 0, index);
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

        ifi->ifi_flags = up ? IFF_UP : 0;
        ifi->ifi_change = IFF_UP;
        return transact(nl, nlh, false, NULL, NULL);
}

static int set_u32(struct netlink *nl, int index, uint16_t attr, uint32_t value) {
        union request req;
        struct nlmsghdr *nlh = put_link_request(&req, RTM_NEWLINK, 0, index);

        mnl_attr_put_u32(nlh, attr, value);
        return transact(nl, nlh, false, NULL, NULL);
}

static int create_bridge(struct netlink *nl, const char *name) {
        union request req;
        struct nlmsghdr *nlh = put_link_request(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
        struct nlattr *info, *data;

        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        /* The kernel takes the forward delay (in hundredths of a second)
         * before the STP state; a new bridge has STP off, under which any
         * delay is allowed. */
        mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
        mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, info);
        return transact(nl, nlh, false, NULL, NULL);
}

/* An IPv4 address of a link, as RTM_NEWADDR has it (network byte order). */
struct addr {
        uint32_t local, address;        /* IFA_LOCAL, IFA_ADDRESS (the peer on a point-to-point link) */
        uint8_t prefix;
};

struct scan_addrs {
        int index;
        struct addr want;
        bool have;                      /* want is there */
        bool other_found;
        struct addr other;              /* the first other IPv4 address */
};

static int addr_attr(const struct nlattr *attr, void *userdata) {
        struct addr *a = userdata;
        uint16_t type = mnl_attr_get_type(attr);

        if (type != IFA_LOCAL && type != IFA_ADDRESS)
                return MNL_CB_OK;
        if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                return MNL_CB_ERROR;
        if (type == IFA_LOCAL)
                a->local = mnl_attr_get_u32(attr);
        else
                a->address = mnl_attr_get_u32(attr);
        return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *userdata) {
        struct scan_addrs *s = userdata;
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        struct addr a = { 0 };

        if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
                return -EBADMSG;
        if (ifa->ifa_family != AF_INET || (int) ifa->ifa_index != s->index)
                return 0;
        a.prefix = ifa->ifa_prefixlen;
        if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr, &a) < 0)
                return -EBADMSG;
        if (!a.local)
                a.local = a.address;    /* IPv4 without IFA_LOCAL: the one is the other */
        if (!a.address)
                a.address = a.local;
        if (a.local == s->want.local && a.prefix == s->want.prefix)
                s->have = true;
        else if (!s->other_found) {
                s->other = a;
                s->other_found = true;
        }
        return 0;
}

static void scan_addrs_reset(void *userdata) {
        struct scan_addrs *s = userdata;

        s->have = false;
        s->other_found = false;
}

/* An IPv4 address request: RTM_*ADDR with an ifaddrmsg for index (0: any). */
static struct nlmsghdr *put_addr_request(union request *req, uint16_t type, uint16_t flags, int index,
                                         uint8_t prefix) {
        struct nlmsghdr *nlh;
        struct ifaddrmsg *ifa;

        memset(req, 0, sizeof(*req));
        nlh = mnl_nlmsg_put_header(req->buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = AF_INET;
        ifa->ifa_prefixlen = prefix;
        ifa->ifa_index = (unsigned) index;
        return nlh;
}

static int scan_addrs(struct netlink *nl, struct scan_addrs *s) {
        union request req;

        return transact_dump(nl, put_addr_request(&req, RTM_GETADDR, 0, 0, 0), on_addr, s, scan_addrs_reset);
}

/* RTM_NEWADDR (add, replacing one of the same key) or RTM_DELADDR. */
static int put_addr(struct netlink *nl, uint16_t type, int index, const struct addr *a, bool broadcast) {
        union request req;
        struct nlmsghdr *nlh = put_addr_request(&req, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0,
                                                index, a->prefix);

        mnl_attr_put_u32(nlh, IFA_LOCAL, a->local);
        mnl_attr_put_u32(nlh, IFA_ADDRESS, a->address);
        if (broadcast && a->prefix <= 30) {
                uint32_t host_bits = a->prefix == 0 ? UINT32_MAX : (UINT32_C(1) << (32 - a->prefix)) - 1;

                mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(ntohl(a->local) | host_bits));
        }
        return transact(nl, nlh, false, NULL, NULL);
}

static void format_addr(uint32_t be, uint8_t prefix, char buf[static 24]) {
        uint32_t a = ntohl(be);

        snprintf(buf, 24, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, prefix);
}

int netlink_bridge_ensure(struct netlink *nl, const char *name, uint32_t addr, uint8_t prefix, struct error *err) {
        struct scan_addrs s = { 0 };
        char shown[24];
        struct link l;
        int r;

        r = check_ifname(name, err);
        if (r < 0)
                return r;
        if (prefix < 1 || prefix > 32)
                return error_set(err, -EINVAL, ERROR_OUT_OF_RANGE, NULL,
                                 "bridge %s: prefix length %u is not 1 to 32", name, prefix);

        r = get_link(nl, name, 0, &l);
        if (r == -ENODEV) {
                r = create_bridge(nl, name);
                if (r < 0 && r != -EEXIST)      /* -EEXIST: made by someone else since; looked at below */
                        return fail(nl, err, r, "creating bridge %s", name);
                r = get_link(nl, name, 0, &l);
        }
        if (r < 0)
                return fail(nl, err, r, "looking up %s", name);
        if (strcmp(l.kind, "bridge") != 0)
                return error_set(err, -EEXIST, ERROR_INTERNAL, NULL,
                                 "netlink: a link named %s exists and is not a bridge (%s%s)", name,
                                 l.kind[0] ? "kind " : "no kind", l.kind);

        /* The address: each other IPv4 address goes first (one at a time:
         * removing a primary address removes its secondaries too), then
         * the one wanted is added if it is not there already. */
        s.index = l.index;
        s.want = (struct addr) { .local = htonl(addr), .address = htonl(addr), .prefix = prefix };
        format_addr(s.want.local, prefix, shown);
        for (int i = 0;; i++) {
                char old[24];

                r = scan_addrs(nl, &s);
                if (r < 0)
                        return fail(nl, err, r, "listing the addresses of %s", name);
                if (!s.other_found)
                        break;
                if (i == NETLINK_ADDRS_MAX)
                        return fail(nl, err, -E2BIG, "%s keeps more than %d other IPv4 addresses", name,
                                    NETLINK_ADDRS_MAX);
                format_addr(s.other.local, s.other.prefix, old);
                r = put_addr(nl, RTM_DELADDR, l.index, &s.other, false);
                if (r < 0 && r != -EADDRNOTAVAIL)
                        return fail(nl, err, r, "removing address %s from %s", old, name);
        }
        if (!s.have) {
                r = put_addr(nl, RTM_NEWADDR, l.index, &s.want, true);
                if (r < 0)
                        return fail(nl, err, r, "adding address %s to %s", shown, name);
        }

        if (!(l.flags & IFF_UP)) {
                r = set_up(nl, l.index, true);
                if (r < 0)
                        return fail(nl, err, r, "bringing %s up", name);
        }
        return 0;
}

int netlink_link_delete(struct netlink *nl, const char *name, struct error *err) {
        union request req;
        struct nlmsghdr *nlh;
        int r;

        r = check_ifname(name, err);
        if (r < 0)
                return r;
        nlh = put_link_request(&req, RTM_DELLINK, 0, 0);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        r = transact(nl, nlh, false, NULL, NULL);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return fail(nl, err, r, "deleting %s", name);
        return 0;
}

/* The bridge of that name, which must be one. */
static int get_bridge(struct netlink *nl, const char *name, struct link *ret, struct error *err) {
        int r = get_link(nl, name, 0, ret);

        if (r < 0)
                return fail(nl, err, r, "looking up bridge %s", name);
        if (strcmp(ret->kind, "bridge") != 0)
                return error_set(err, -EINVAL, ERROR_INTERNAL, NULL, "netlink: %s is not a bridge", name);
        return 0;
}

int netlink_link_enslave(struct netlink *nl, const char *ifname, const char *bridge, struct error *err) {
        struct link br, l;
        int r;

        r = check_ifname(ifname, err);
        if (r < 0)
                return r;
        r = check_ifname(bridge, err);
        if (r < 0)
                return r;
        r = get_bridge(nl, bridge, &br, err);
        if (r < 0)
                return r;
        r = get_link(nl, ifname, 0, &l);
        if (r < 0)
                return fail(nl, err, r, "looking up %s", ifname);
        /* Refused before anything is changed (the first step takes the
         * link down): the kernel would refuse these only at the master. */
        if (l.index == br.index || strcmp(l.kind, "bridge") == 0 || (l.flags & IFF_LOOPBACK))
                return error_set(err, -EINVAL, ERROR_INTERNAL, NULL, "netlink: %s cannot be a port of bridge %s",
                                 ifname, bridge);
        if (l.master == (uint32_t) br.index && l.mtu == br.mtu && (l.flags & IFF_UP))
                return 0;

        /* vif-bridge's order: down, the MTU, the master, up. */
        r = set_up(nl, l.index, false);
        if (r < 0)
                return fail(nl, err, r, "taking %s down", ifname);
        if (l.mtu != br.mtu) {
                r = set_u32(nl, l.index, IFLA_MTU, br.mtu);
                if (r < 0)
                        return fail(nl, err, r, "setting the MTU of %s to %u (bridge %s's)", ifname, br.mtu, bridge);
        }
        if (l.master != (uint32_t) br.index) {
                r = set_u32(nl, l.index, IFLA_MASTER, (uint32_t) br.index);
                if (r < 0)
                        return fail(nl, err, r, "adding %s to bridge %s", ifname, bridge);
        }
        r = set_up(nl, l.index, true);
        if (r < 0)
                return fail(nl, err, r, "bringing %s up", ifname);
        return 0;
}

int netlink_link_index(struct netlink *nl, const char *name) {
        struct link l;
        int r;

        if (!ifname_valid(name))
                return -EINVAL;
        r = get_link(nl, name, 0, &l);
        if (r < 0)
                return r;
        return l.index > 0 ? l.index : -EBADMSG;
}

int netlink_link_master(struct netlink *nl, const char *name, char master[static NETLINK_IFNAME_MAX],
                        struct error *err) {
        struct link l, m;
        int r;

        master[0] = '\0';
        r = check_ifname(name, err);
        if (r < 0)
                return r;
        r = get_link(nl, name, 0, &l);
        if (r < 0)
                return fail(nl, err, r, "looking up %s", name);
        if (l.master == 0)
                return 0;
        r = get_link(nl, NULL, (int) l.master, &m);
        if (r == -ENODEV)
                return 0;       /* the master went away since */
        if (r < 0)
                return fail(nl, err, r, "looking up the master of %s (ifindex %u)", name, l.master);
        snprintf(master, NETLINK_IFNAME_MAX, "%s", m.name);
        return 0;
}

int netlink_link_stats(struct netlink *nl, const char *name, struct netlink_link_stats *ret, struct error *err) {
        struct link l;
        int r;

        r = check_ifname(name, err);
        if (r < 0)
                return r;
        r = get_link(nl, name, 0, &l);
        if (r < 0)
                return fail(nl, err, r, "looking up %s", name);
        if (!l.has_stats)
                return fail(nl, err, -ENODATA, "%s has no IFLA_STATS64", name);
        *ret = l.stats;
        return 0;
}

struct ports {
        uint32_t bridge;
        char (*names)[NETLINK_IFNAME_MAX];
        size_t max, n;
};

static int on_port(const struct nlmsghdr *nlh, void *userdata) {
        struct ports *p = userdata;
        struct link l;
        int r;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return 0;
        r = parse_link(nlh, &l);
        if (r < 0)
                return r;
        if (l.master != p->bridge)
                return 0;
        if (p->n < p->max)
                snprintf(p->names[p->n], NETLINK_IFNAME_MAX, "%s", l.name);
        p->n++;
        return 0;
}

static void ports_reset(void *userdata) {
        struct ports *p = userdata;

        p->n = 0;
}

int netlink_bridge_ports(struct netlink *nl, const char *bridge, char (*names)[NETLINK_IFNAME_MAX], size_t max,
                         size_t *ret_n, struct error *err) {
        struct ports p = { .names = names, .max = names ? max : 0 };
        union request req;
        struct nlmsghdr *nlh;
        struct link br;
        int r;

        r = check_ifname(bridge, err);
        if (r < 0)
                return r;
        r = get_bridge(nl, bridge, &br, err);
        if (r < 0)
                return r;
        p.bridge = (uint32_t) br.index;

        /* A kernel that filters link dumps sends only the bridge's ports
         * (IFLA_MASTER, NLM_F_DUMP_FILTERED); an older one sends every
         * link, and on_port picks. */
        nlh = put_link_request(&req, RTM_GETLINK, 0, 0);
        mnl_attr_put_u32(nlh, IFLA_MASTER, p.bridge);
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        r = transact_dump(nl, nlh, on_port, &p, ports_reset);
        if (r < 0)
                return fail(nl, err, r, "listing the ports of %s", bridge);
        *ret_n = p.n;
        return 0;
}
