/* The layout shared by the XDP program (ntsd_xdp.bpf.c, C, BPF target) and
 * ntsd's loader (xdp_program.cpp): map keys, values and counter indices. C only,
 * fixed-width types, no padding left implicit: both compilers must agree. */
#ifndef NTSD_XDP_ABI_H
#define NTSD_XDP_ABI_H

#include <linux/types.h>

/* Entries of the XSKMAP: one AF_XDP socket per receive queue. */
#define NTSD_XDP_MAX_QUEUES 64
/* Entries of the listen map: (address, port) pairs the program takes. */
#define NTSD_XDP_MAX_LISTEN 64

/* Per-CPU counters, by what the program did with a frame. Only frames that are
 * UDP (or might be: fragments, extension headers) are counted as passed. */
enum ntsd_xdp_counter {
  NTSD_XDP_REDIRECTED = 0,  /* NTP to ntsd: handed to the queue's AF_XDP socket */
  NTSD_XDP_DROP_RATE,       /* over the prefix's rate limit: dropped before any copy */
  NTSD_XDP_RATE_TO_USER,    /* over the limit, but handed on so user space may kiss */
  NTSD_XDP_PASS_FRAGMENT,   /* an IP fragment: the kernel reassembles */
  NTSD_XDP_PASS_IP_OPTIONS, /* IPv4 with options */
  NTSD_XDP_PASS_IPV6_EXT,   /* IPv6 with an extension header before UDP */
  NTSD_XDP_PASS_VLAN,       /* VLAN-tagged: not handled here */
  NTSD_XDP_PASS_NO_SOCKET,  /* NTP, but no socket on this receive queue */
  NTSD_XDP_COUNTER_COUNT
};

/* One entry, set by the loader before attaching. */
struct ntsd_xdp_config {   // NOLINT(readability-identifier-naming): C, shared with the BPF program
  __u64 rate_interval_ns;  /* 1 s / rate: the bucket's refill interval per token */
  __u64 rate_tolerance_ns; /* (burst - 1) * interval */
  __u32 rate_enabled;
  __u32 ipv4_prefix; /* 1-32 */
  __u32 ipv6_prefix; /* 1-64 */
  __u32 kiss_every;  /* over the limit, 1 in this many goes on to user space; 0: none */
};

/* An NTP listen address: IPv4 as ::ffff:a.b.c.d; all-zero address bytes of a
 * family (:: or ::ffff:0.0.0.0) match any address of it. */
struct ntsd_xdp_listen_key {  // NOLINT(readability-identifier-naming): C, shared with the BPF
                              // program
  __u8 address[16];
  __u16 port; /* network byte order */
  __u16 pad;
};

/* A rate-limit bucket's key: the source address's leading prefix bits. */
struct ntsd_xdp_bucket_key {  // NOLINT(readability-identifier-naming): C, shared with the BPF
                              // program
  __u64 prefix;
  __u32 family; /* 4 or 6 */
  __u32 pad;
};

/* A generic cell rate bucket: the theoretical arrival time of the next request. */
struct ntsd_xdp_bucket {  // NOLINT(readability-identifier-naming): C, shared with the BPF program
  __u64 tat_ns;
  __u32 over; /* requests over the limit since the last allowed one */
  __u32 pad;
};

/* In front of a redirected frame (the XDP metadata area, which AF_XDP copies
 * into the UMEM just before the frame), written by the program built with
 * NTSD_XDP_RX_TIMESTAMP. The magic is last, next to the frame: user space
 * clears it after reading, so that a stale one is never taken for this frame's. */
#define NTSD_XDP_META_MAGIC 0x6e747364U /* "ntsd" */
struct ntsd_xdp_meta {   // NOLINT(readability-identifier-naming): C, shared with the BPF program
  __u64 rx_timestamp_ns; /* the driver's (bpf_xdp_metadata_rx_timestamp); 0: none */
  __s32 error;           /* what the kfunc returned: 0, -EOPNOTSUPP, -ENODATA */
  __u32 magic;
};

#endif
