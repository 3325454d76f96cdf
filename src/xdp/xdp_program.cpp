#include "xdp/xdp_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "server/config.h"
#include "server/log.h"
#include "xdp/xdp_object.h"

namespace ntsd::xdp {

namespace {

constexpr std::string_view kProgramName = "ntsd_xdp";
// Linux 6.3's uapi flag: a program bound to one device for its metadata kfuncs
// (not offloaded). Debian 12's kernel headers (6.1) do not have it yet.
constexpr __u32 kXdpDevBoundOnly = 1U << 6;

[[noreturn]] void refuse(const std::string& setting, const std::string& interface,
                         const std::string& what, int error) {
  throw server::ConfigError(setting, interface + ": " + what + ": " + std::strerror(error));
}

unsigned count_rx_queues(const std::string& interface) {
  unsigned queues = 0;
  std::error_code error;
  std::filesystem::directory_iterator it("/sys/class/net/" + interface + "/queues", error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (it->path().filename().string().starts_with("rx-")) ++queues;
  }
  return std::clamp(queues, 1U, static_cast<unsigned>(NTSD_XDP_MAX_QUEUES));
}

ntsd_xdp_listen_key listen_key(const SocketAddress& address) {
  ntsd_xdp_listen_key key{};
  if (address.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address.get());
    key.address[10] = 0xff;
    key.address[11] = 0xff;
    std::memcpy(&key.address[12], &v4->sin_addr, 4);
    key.port = v4->sin_port;
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address.get());
    std::memcpy(key.address, &v6->sin6_addr, 16);
    key.port = v6->sin6_port;
  }
  return key;
}

ntsd_xdp_config program_config(const server::RateLimitSettings& limit) {
  ntsd_xdp_config config{};
  config.rate_enabled = limit.enabled() ? 1 : 0;
  if (limit.enabled()) {
    config.rate_interval_ns = 1'000'000'000ULL / limit.rate;
    config.rate_tolerance_ns =
        (std::max<std::uint64_t>(limit.burst, 1) - 1) * config.rate_interval_ns;
  }
  config.ipv4_prefix = std::clamp(limit.ipv4_prefix, 1U, 32U);  // of the address in the top 32 bits
  config.ipv6_prefix = std::clamp(limit.ipv6_prefix, 1U, 64U);
  config.kiss_every = limit.kiss_every;
  return config;
}

// The program attached to `ifindex` now, if any: its name and the mode flags
// that detach it.
struct AttachedProgram {
  std::string name;
  __u32 flags = 0;
};

AttachedProgram attached_program(unsigned ifindex) {
  LIBBPF_OPTS(bpf_xdp_query_opts, query);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &query) != 0 || query.prog_id == 0) return {};
  AttachedProgram attached{"(unknown)", 0};
  switch (query.attach_mode) {
    case XDP_ATTACHED_SKB:
      attached.flags = XDP_FLAGS_SKB_MODE;
      break;
    case XDP_ATTACHED_DRV:
      attached.flags = XDP_FLAGS_DRV_MODE;
      break;
    case XDP_ATTACHED_HW:
      attached.flags = XDP_FLAGS_HW_MODE;
      break;
    default:
      break;
  }
  UniqueFd fd(bpf_prog_get_fd_by_id(query.prog_id));
  if (!fd.valid()) return attached;
  bpf_prog_info info{};
  __u32 length = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &length) == 0) attached.name = info.name;
  return attached;
}

// libbpf's own messages: at debug level, so that a refusal is explained once by
// the ConfigError and in detail with --log-level debug.
int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || !spdlog::should_log(spdlog::level::debug)) return 0;
  std::array<char, 512> line{};
  const int n = std::vsnprintf(line.data(), line.size(), format, args);
  if (n > 0)
    spdlog::debug("libbpf: {}", std::string_view(line.data()).substr(0, std::strlen(line.data())));
  return n;
}

}  // namespace

const char* xdp_counter_name(unsigned counter) {
  switch (counter) {
    case NTSD_XDP_REDIRECTED:
      return "redirected";
    case NTSD_XDP_DROP_RATE:
      return "rate";
    case NTSD_XDP_RATE_TO_USER:
      return "rate_to_user";
    case NTSD_XDP_PASS_FRAGMENT:
      return "fragment";
    case NTSD_XDP_PASS_IP_OPTIONS:
      return "ip_options";
    case NTSD_XDP_PASS_IPV6_EXT:
      return "ipv6_extension_header";
    case NTSD_XDP_PASS_VLAN:
      return "vlan";
    case NTSD_XDP_PASS_NO_SOCKET:
      return "no_socket";
    default:
      return "unknown";
  }
}

namespace {

unsigned interface_index(const std::string& interface) {
  const unsigned index = if_nametoindex(interface.c_str());
  if (index == 0) refuse("--xdp", interface, "no such interface", errno);
  return index;
}

}  // namespace

XdpObject::XdpObject(const std::string& name, const std::vector<SocketAddress>& listen,
                     const server::RateLimitSettings& rate_limit, unsigned bound_ifindex)
    : name_(name) {
  libbpf_set_print(libbpf_log);
  const auto object = xdp_program_object(bound_ifindex != 0);
  LIBBPF_OPTS(bpf_object_open_opts, open_options, .object_name = "ntsd_xdp");
  object_ = bpf_object__open_mem(object.data(), object.size(), &open_options);
  if (object_ == nullptr) refuse("--xdp", name_, "cannot open the XDP program", errno);
  try {
    bpf_program* program =
        bpf_object__find_program_by_name(object_, std::string(kProgramName).c_str());
    if (program == nullptr) refuse("--xdp", name_, "XDP program not found", ENOENT);
    if (bound_ifindex != 0) {
      bpf_program__set_ifindex(program, bound_ifindex);
      bpf_program__set_flags(program, bpf_program__flags(program) | kXdpDevBoundOnly);
    }
    load(rate_limit, bound_ifindex != 0);
    configure(listen, rate_limit);
    program_fd_ = bpf_program__fd(program);
  } catch (...) {
    bpf_object__close(object_);
    throw;
  }
}

void XdpObject::load(const server::RateLimitSettings& rate_limit, bool bound) {
  bpf_map* buckets = bpf_object__find_map_by_name(object_, "ntsd_buckets");
  if (buckets != nullptr) {
    // An LRU hash is allocated in full up front: no buckets without a limit.
    const auto entries =
        rate_limit.enabled() ? std::clamp<std::size_t>(rate_limit.table_entries, 64, 1U << 22) : 64;
    bpf_map__set_max_entries(buckets, static_cast<__u32>(entries));
  }
  if (bpf_object__load(object_) != 0) {
    refuse("--xdp", name_,
           bound ? "the kernel refused the device-bound build with the receive-timestamp kfunc "
                   "(needs Linux 6.3 or later)"
                 : "the kernel refused the XDP program (needs CAP_BPF and CAP_NET_ADMIN)",
           errno);
  }
}

void XdpObject::configure(const std::vector<SocketAddress>& listen,
                          const server::RateLimitSettings& rate_limit) {
  const ntsd_xdp_config config = program_config(rate_limit);
  const __u32 zero = 0;
  if (bpf_map_update_elem(map_fd("ntsd_config"), &zero, &config, BPF_ANY) != 0) {
    refuse("--xdp", name_, "cannot configure the XDP program", errno);
  }
  const __u8 yes = 1;
  for (const auto& address : listen) {
    const auto key = listen_key(address);
    if (bpf_map_update_elem(map_fd("ntsd_listen"), &key, &yes, BPF_ANY) != 0) {
      refuse("--xdp", name_, "cannot set the NTP address " + address.to_string(), errno);
    }
  }
  counters_fd_ = map_fd("ntsd_counters");
  xsks_fd_ = map_fd("ntsd_xsks");
}

XdpObject::~XdpObject() { bpf_object__close(object_); }

int XdpObject::map_fd(const char* map) const {
  const int fd = bpf_object__find_map_fd_by_name(object_, map);
  if (fd < 0) refuse("--xdp", name_, std::string("XDP program without map ") + map, ENOENT);
  return fd;
}

XdpCounterArray XdpObject::counters() const {
  XdpCounterArray total{};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return total;
  std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
  for (__u32 counter = 0; counter < NTSD_XDP_COUNTER_COUNT; ++counter) {
    if (bpf_map_lookup_elem(counters_fd_, &counter, values.data()) != 0) continue;
    for (auto value : values) total[counter] += value;
  }
  return total;
}

XdpProgram::XdpProgram(const std::string& interface, server::XdpMode mode,
                       const std::vector<SocketAddress>& listen,
                       const server::RateLimitSettings& rate_limit)
    : interface_(interface),
      ifindex_(interface_index(interface)),
      queue_count_(count_rx_queues(interface)),
      listen_(listen),
      rate_limit_(rate_limit) {
  load(mode);
  attach(mode);
}

// Closing the link detaches the program; the object then frees the maps.
XdpProgram::~XdpProgram() { link_.reset(); }

// The build with the receive-timestamp kfunc, bound to the device, where the
// kernel takes it (6.3 and later) and the mode is not generic; else the other.
void XdpProgram::load(server::XdpMode mode) {
  if (mode == server::XdpMode::Generic) {
    unbind("generic mode has no driver metadata");
    return;
  }
  try {
    object_ = std::make_unique<XdpObject>(interface_, listen_, rate_limit_, ifindex_);
    rx_timestamps_ = {true, {}};
  } catch (const server::ConfigError& refused) {
    // "--xdp: IFACE: why: error": the part after the interface.
    const std::string text = refused.what();
    const auto at = text.find(interface_ + ": ");
    unbind(at == std::string::npos ? text : text.substr(at + interface_.size() + 2));
  }
}

void XdpProgram::unbind(const std::string& why) {
  object_.reset();
  object_ = std::make_unique<XdpObject>(interface_, listen_, rate_limit_);
  rx_timestamps_ = {false, why};
}

void XdpProgram::attach(server::XdpMode mode) {
  auto try_attach = [&](server::XdpMode want) {
    LIBBPF_OPTS(bpf_link_create_opts, options);
    options.flags = want == server::XdpMode::Native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    const int fd =
        bpf_link_create(object_->program_fd(), static_cast<int>(ifindex_), BPF_XDP, &options);
    if (fd >= 0) {
      link_.reset(fd);
      attached_mode_ = want;
    }
    return fd >= 0 ? 0 : errno;
  };
  auto attempt = [&]() {
    if (mode == server::XdpMode::Generic) return try_attach(mode);
    int native = try_attach(server::XdpMode::Native);
    if (native != 0 && native != EBUSY && native != EEXIST && rx_timestamps_.driver) {
      // A device-bound program attaches in native mode only, and only where the
      // driver takes it: the plain build, in native mode or (auto) generic.
      unbind(std::string("the device-bound program did not attach: ") + std::strerror(native));
      native = try_attach(server::XdpMode::Native);
    }
    if (native == 0 || mode == server::XdpMode::Native) return native;
    rx_timestamps_.why_not = "generic mode has no driver metadata";
    return try_attach(server::XdpMode::Generic);
  };
  int error = attempt();
  if (error == EBUSY || error == EEXIST) {
    // Another program is attached. One of ntsd's own without a link was left by a
    // crashed run of an older attach method or by hand (xdp-loader): replace it.
    // A link-attached one belongs to a running process and cannot be detached.
    const AttachedProgram attached = attached_program(ifindex_);
    const std::string& name = attached.name;
    if (name != kProgramName) {
      refuse("--xdp", interface_,
             "another XDP program (" + (name.empty() ? std::string("unknown") : name) +
                 ") is attached; ntsd does not replace it",
             error);
    }
    if (bpf_xdp_detach(static_cast<int>(ifindex_), attached.flags, nullptr) != 0) {
      refuse("--xdp", interface_, "ntsd's XDP program is attached by another running ntsd", EBUSY);
    }
    spdlog::warn("xdp: {}: replaced a stale ntsd XDP program", interface_);
    error = attempt();
  }
  if (error != 0) {
    refuse(mode == server::XdpMode::Auto ? "--xdp" : "--xdp-mode", interface_,
           std::string("cannot attach the XDP program in ") +
               std::string(server::xdp_mode_name(mode)) + " mode",
           error);
  }
}

void XdpProgram::add_socket(unsigned queue, int socket_fd) {
  const __u32 key = queue;
  const auto value = static_cast<__u32>(socket_fd);
  if (bpf_map_update_elem(object_->xsks_fd(), &key, &value, BPF_ANY) != 0) {
    refuse("--xdp", interface_,
           "cannot register the AF_XDP socket of queue " + std::to_string(queue), errno);
  }
}

}  // namespace ntsd::xdp
