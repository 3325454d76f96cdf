// cookie_replay: a test client that keeps NTS cookies across runs, so that tests can
// ask "does a cookie issued before X still authenticate after X?".
//
//   cookie_replay ke HOST:PORT --ca CERT --state FILE
//     runs NTS-KE once and saves the AEAD, C2S/S2C keys, cookies and the NTP server
//     the KE named to FILE (a test artefact: secrets in the clear, mode 0600).
//   cookie_replay ntp --state FILE [--server HOST:PORT] [--cookie N] [--timeout-ms MS]
//     sends one NTS request carrying saved cookie N (default 0) to the NTP server the
//     KE named, or to --server. The server keeps no per-client state, so the same
//     saved cookie can be sent again later.
//
// Prints one JSON object. Exit status: 0 authenticated answer, 3 NTS NAK, 4 no
// (valid) answer, 1 other failure, 2 usage.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "client/ke_client.h"
#include "client/net.h"
#include "client/ntp_client.h"
#include "common/json_string.h"
#include "core/nts_client_codec.h"

namespace {

using namespace ntsd;
using common::json_string;

std::string to_hex(core::ByteView bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

core::Bytes from_hex(const std::string& hex) {
  core::Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string key_ids(const std::vector<core::Bytes>& cookies) {
  std::string out = "[";
  for (std::size_t i = 0; i < cookies.size(); ++i) {
    if (i) out += ",";
    out += cookies[i].size() >= 4 ? std::to_string(core::load_be32(cookies[i].data())) : "null";
  }
  return out + "]";
}

struct Saved {
  core::AeadAlgorithm aead = core::AeadAlgorithm::AesSivCmac256;
  core::Bytes c2s, s2c;
  std::string server;
  std::uint16_t port = 0;
  std::vector<core::Bytes> cookies;
};

void save(const std::string& path, const Saved& s) {
  std::ostringstream text;
  text << "aead " << static_cast<unsigned>(s.aead) << "\n"
       << "c2s " << to_hex(s.c2s) << "\n"
       << "s2c " << to_hex(s.s2c) << "\n"
       << "server " << s.server << "\n"
       << "port " << s.port << "\n";
  for (const auto& c : s.cookies) text << "cookie " << to_hex(c) << "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path);
  auto data = text.str();
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path);
}

Saved load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  Saved s;
  std::string name, value;
  while (in >> name >> value) {
    if (name == "aead") {
      auto id = core::aead_from_id(static_cast<std::uint16_t>(std::stoul(value)));
      if (!id) throw std::runtime_error("bad aead in " + path);
      s.aead = *id;
    } else if (name == "c2s") {
      s.c2s = from_hex(value);
    } else if (name == "s2c") {
      s.s2c = from_hex(value);
    } else if (name == "server") {
      s.server = value;
    } else if (name == "port") {
      s.port = static_cast<std::uint16_t>(std::stoul(value));
    } else if (name == "cookie") {
      s.cookies.push_back(from_hex(value));
    }
  }
  return s;
}

int run_ke(const std::string& target, const std::string& ca, const std::string& state) {
  auto hp = parse_host_port(target);
  if (!hp) {
    std::cout << "{\"ok\":false,\"error\":\"bad target\"}\n";
    return 2;
  }
  client::KeClientOptions options;
  options.host = hp->host;
  options.port = hp->port.value_or(client::kDefaultKePort);
  options.ca_file = ca;
  auto result = client::run_ke(options);
  if (!result.ok || !result.session.keys) {
    std::cout << "{\"ok\":false,\"error\":" << json_string(result.error) << "}\n";
    return 1;
  }
  Saved s;
  s.aead = result.session.keys->algorithm();
  auto c2s = result.session.keys->c2s();
  auto s2c = result.session.keys->s2c();
  s.c2s.assign(c2s.begin(), c2s.end());
  s.s2c.assign(s2c.begin(), s2c.end());
  s.server = result.session.ntp_server;
  s.port = result.session.ntp_port;
  s.cookies = result.session.cookies;
  save(state, s);
  std::cout << "{\"ok\":true,\"cookies\":" << s.cookies.size()
            << ",\"key_ids\":" << key_ids(s.cookies) << ",\"ntp_server\":" << json_string(s.server)
            << ",\"ntp_port\":" << s.port << "}\n";
  return 0;
}

int run_ntp(const std::string& state, const std::string& server_override, std::size_t index,
            int timeout_ms) {
  Saved s = load(state);
  if (index >= s.cookies.size()) {
    std::cout << "{\"result\":\"error\",\"detail\":\"no cookie " << index << "\"}\n";
    return 1;
  }
  std::string host = s.server;
  std::uint16_t port = s.port;
  if (!server_override.empty()) {
    auto hp = parse_host_port(server_override);
    if (!hp) {
      std::cout << "{\"result\":\"error\",\"detail\":\"bad --server\"}\n";
      return 2;
    }
    host = hp->host;
    port = hp->port.value_or(client::kDefaultNtpPort);
  }
  auto c2s = core::Aead::create(s.aead, s.c2s);
  auto s2c = core::Aead::create(s.aead, s.s2c);
  if (!c2s || !s2c) throw std::runtime_error("bad keys in " + state);
  const core::Bytes& cookie = s.cookies[index];
  const std::uint32_t key_id = core::load_be32(cookie.data());

  auto addresses = client::resolve(host, port, SOCK_DGRAM);
  const auto& address = addresses.front();
  UniqueFd fd(::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || ::connect(fd.get(), address.get(), address.length()) != 0) {
    throw std::runtime_error("cannot connect to " + address.to_string());
  }
  core::SystemRandom random;
  auto request = core::build_nts_request(*c2s, cookie, 1, client::ntp_now(), random);
  if (::send(fd.get(), request.packet.data(), request.packet.size(), 0) < 0) {
    throw std::runtime_error("cannot send to " + address.to_string());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "no response";
  for (;;) {
    if (!client::wait_fd(fd.get(), POLLIN, deadline)) break;
    std::array<std::uint8_t, 2048> buffer{};
    ssize_t got = ::recv(fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (errno == ECONNREFUSED) {
        last = "ICMP port unreachable";
        continue;
      }
      throw std::runtime_error("cannot receive");
    }
    auto response =
        core::parse_nts_response({buffer.data(), static_cast<std::size_t>(got)}, *s2c, request);
    std::string prefix =
        "{\"server\":" + json_string(address.to_string()) + ",\"key_id\":" + std::to_string(key_id);
    if (response.error == core::NtsResponseError::Nak) {
      std::cout << prefix << ",\"result\":\"nak\"}\n";
      return 3;
    }
    if (response.error == core::NtsResponseError::None) {
      std::cout << prefix << ",\"result\":\"ok\",\"stratum\":" << unsigned{response.header.stratum}
                << ",\"new_cookie_key_ids\":" << key_ids(response.cookies) << "}\n";
      return 0;
    }
    last = std::string(core::nts_response_error_name(response.error));
  }
  std::cout << "{\"server\":" << json_string(address.to_string()) << ",\"key_id\":" << key_id
            << ",\"result\":\"no-response\",\"detail\":" << json_string(last) << "}\n";
  return 4;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cookie_replay: NTS-KE once, replay saved cookies later (a test tool)"};
  app.require_subcommand(1);
  std::string target, ca, state, server;
  std::size_t index = 0;
  int timeout_ms = 1000;
  auto* ke = app.add_subcommand("ke", "run NTS-KE and save keys and cookies");
  ke->add_option("target", target, "HOST:PORT of the NTS-KE server")->required();
  ke->add_option("--ca", ca, "CA certificate (PEM)")->required();
  ke->add_option("--state", state, "where to save")->required();
  auto* ntp = app.add_subcommand("ntp", "send one NTS request with a saved cookie");
  ntp->add_option("--state", state, "saved by 'ke'")->required();
  ntp->add_option("--server", server, "HOST:PORT instead of the server the KE named");
  ntp->add_option("--cookie", index, "which saved cookie (0-7)");
  ntp->add_option("--timeout-ms", timeout_ms, "how long to wait for the answer");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*ke) return run_ke(target, ca, state);
    return run_ntp(state, server, index, timeout_ms);
  } catch (const std::exception& e) {
    std::cout << "{\"result\":\"error\",\"detail\":" << json_string(e.what()) << "}\n";
    return 1;
  }
}
