/* ntsd's XDP program: UDP to one of ntsd's NTP listen addresses goes to the
 * AF_XDP socket of the receive queue it arrived on; everything else (ARP, ND,
 * ICMP, TCP for NTS-KE, other UDP) goes on to the kernel untouched. Frames this
 * program does not parse fully (fragments, IPv4 options, IPv6 extension headers,
 * VLAN tags) also go to the kernel, so ntsd's sockets still answer them.
 *
 * A token bucket per source prefix (the limits of --ntp-rate-limit) drops floods
 * here, before any copy to user space; over the limit, one request in kiss_every
 * is still handed on so that user space can answer it with a RATE kiss.
 *
 * Built twice: with NTSD_XDP_RX_TIMESTAMP the program asks the driver for the
 * frame's receive timestamp (the XDP metadata kfunc; the program must then be
 * loaded bound to the device) and writes it into the metadata area in front of
 * the frame, which AF_XDP delivers with it (struct ntsd_xdp_meta). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, NTSD_XDP_MAX_QUEUES);
  __type(key, __u32);
  __type(value, __u32);
} ntsd_xsks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ntsd_xdp_config);
} ntsd_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NTSD_XDP_MAX_LISTEN);
  __type(key, struct ntsd_xdp_listen_key);
  __type(value, __u8);
} ntsd_listen SEC(".maps");

/* max_entries is set by the loader from the rate limit's table size. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ntsd_xdp_bucket_key);
  __type(value, struct ntsd_xdp_bucket);
} ntsd_buckets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, NTSD_XDP_COUNTER_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} ntsd_counters SEC(".maps");

static __always_inline void count(__u32 counter) {
  __u64 *value = bpf_map_lookup_elem(&ntsd_counters, &counter);
  if (value) *value += 1;
}

static __always_inline int pass(__u32 counter) {
  count(counter);
  return XDP_PASS;
}

static __always_inline __u64 leading_bits(__u64 value, __u32 bits) {
  if (bits >= 64) return value;
  if (bits == 0) return 0;
  return value & ~((1ULL << (64 - bits)) - 1);
}

static __always_inline __u64 load_be64(const __u8 *p) {
  __u64 v = 0;
#pragma unroll
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

/* Is (address, port) one of ntsd's NTP listen addresses, exactly or by wildcard? */
static __always_inline int is_listen(struct ntsd_xdp_listen_key *key) {
  if (bpf_map_lookup_elem(&ntsd_listen, key)) return 1;
  /* The wildcard of the family: keep ::ffff: for IPv4, zero the rest. */
  int v4 = key->address[10] == 0xff && key->address[11] == 0xff && key->address[0] == 0 &&
           key->address[8] == 0;
#pragma unroll
  for (int i = 0; i < 16; i++) {
    if (!(v4 && (i == 10 || i == 11))) key->address[i] = 0;
  }
  return bpf_map_lookup_elem(&ntsd_listen, key) != 0;
}

/* The rate limit: XDP_REDIRECT to go on, XDP_DROP to drop. */
static __always_inline int rate_check(const struct ntsd_xdp_config *config,
                                      struct ntsd_xdp_bucket_key *key) {
  if (!config->rate_enabled) return XDP_REDIRECT;
  __u64 now = bpf_ktime_get_ns();
  struct ntsd_xdp_bucket *bucket = bpf_map_lookup_elem(&ntsd_buckets, key);
  if (!bucket) {
    /* A prefix not seen lately starts with a full bucket (the first token taken). */
    struct ntsd_xdp_bucket fresh = {.tat_ns = now + config->rate_interval_ns, .over = 0};
    bpf_map_update_elem(&ntsd_buckets, key, &fresh, BPF_ANY);
    return XDP_REDIRECT;
  }
  /* Races between CPUs on one bucket only make the limit approximate. */
  __u64 tat = bucket->tat_ns < now ? now : bucket->tat_ns;
  if (tat - now <= config->rate_tolerance_ns) {
    bucket->tat_ns = tat + config->rate_interval_ns;
    bucket->over = 0;
    return XDP_REDIRECT;
  }
  __u32 run = bucket->over;
  bucket->over = run + 1;
  if (config->kiss_every != 0 && run % config->kiss_every == 0) {
    count(NTSD_XDP_RATE_TO_USER);
    return XDP_REDIRECT;
  }
  count(NTSD_XDP_DROP_RATE);
  return XDP_DROP;
}

#ifdef NTSD_XDP_RX_TIMESTAMP
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;

/* The driver's receive timestamp, or its error, in front of the frame. */
static __always_inline void stamp(struct xdp_md *ctx) {
  __u64 timestamp = 0;
  int error = bpf_xdp_metadata_rx_timestamp(ctx, &timestamp);
  if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct ntsd_xdp_meta)) != 0) return;
  struct ntsd_xdp_meta *meta = (void *)(long)ctx->data_meta;
  if ((void *)(meta + 1) > (void *)(long)ctx->data) return;
  meta->rx_timestamp_ns = error == 0 ? timestamp : 0;
  meta->error = error;
  meta->magic = NTSD_XDP_META_MAGIC;
}
#endif

static __always_inline int redirect(struct xdp_md *ctx) {
  __u32 queue = ctx->rx_queue_index;
  if (!bpf_map_lookup_elem(&ntsd_xsks, &queue)) return pass(NTSD_XDP_PASS_NO_SOCKET);
  count(NTSD_XDP_REDIRECTED);
#ifdef NTSD_XDP_RX_TIMESTAMP
  stamp(ctx);
#endif
  return bpf_redirect_map(&ntsd_xsks, queue, XDP_PASS);
}

static __always_inline int handle_udp(struct xdp_md *ctx, struct udphdr *udp, void *end,
                                      struct ntsd_xdp_listen_key *listen,
                                      struct ntsd_xdp_bucket_key *bucket_key) {
  if ((void *)(udp + 1) > end) return XDP_PASS;
  listen->port = udp->dest;
  if (!is_listen(listen)) return XDP_PASS;
  __u32 zero = 0;
  const struct ntsd_xdp_config *config = bpf_map_lookup_elem(&ntsd_config, &zero);
  if (!config) return XDP_PASS;
  bucket_key->prefix = leading_bits(bucket_key->prefix, bucket_key->family == 4
                                                            ? config->ipv4_prefix
                                                            : config->ipv6_prefix);
  if (rate_check(config, bucket_key) == XDP_DROP) return XDP_DROP;
  return redirect(ctx);
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, void *l3, void *end) {
  struct iphdr *ip = l3;
  if ((void *)(ip + 1) > end) return XDP_PASS;
  if (ip->protocol != IPPROTO_UDP || ip->version != 4) return XDP_PASS;
  if (ip->ihl != 5) return pass(NTSD_XDP_PASS_IP_OPTIONS);
  /* More fragments, or a fragment offset: only the kernel can reassemble. */
  if (ip->frag_off & bpf_htons(0x3fff)) return pass(NTSD_XDP_PASS_FRAGMENT);
  struct ntsd_xdp_listen_key listen = {};
  listen.address[10] = 0xff;
  listen.address[11] = 0xff;
  __builtin_memcpy(&listen.address[12], &ip->daddr, 4);
  struct ntsd_xdp_bucket_key bucket = {};
  bucket.family = 4;
  bucket.prefix = (__u64)bpf_ntohl(ip->saddr) << 32;
  return handle_udp(ctx, (struct udphdr *)(ip + 1), end, &listen, &bucket);
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, void *l3, void *end) {
  struct ipv6hdr *ip = l3;
  if ((void *)(ip + 1) > end) return XDP_PASS;
  switch (ip->nexthdr) {
    case IPPROTO_UDP:
      break;
    case IPPROTO_HOPOPTS:
    case IPPROTO_ROUTING:
    case IPPROTO_FRAGMENT:
    case IPPROTO_DSTOPTS:
      return pass(NTSD_XDP_PASS_IPV6_EXT);
    default:
      return XDP_PASS;
  }
  struct ntsd_xdp_listen_key listen = {};
  __builtin_memcpy(listen.address, &ip->daddr, 16);
  struct ntsd_xdp_bucket_key bucket = {};
  bucket.family = 6;
  bucket.prefix = load_be64((const __u8 *)&ip->saddr);
  return handle_udp(ctx, (struct udphdr *)(ip + 1), end, &listen, &bucket);
}

SEC("xdp")
int ntsd_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_PASS;
  switch (eth->h_proto) {
    case bpf_htons(ETH_P_IP):
      return handle_ipv4(ctx, eth + 1, end);
    case bpf_htons(ETH_P_IPV6):
      return handle_ipv6(ctx, eth + 1, end);
    case bpf_htons(ETH_P_8021Q):
    case bpf_htons(ETH_P_8021AD):
      return pass(NTSD_XDP_PASS_VLAN);
    default:
      return XDP_PASS;
  }
}
