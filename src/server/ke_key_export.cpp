#include "server/ke_key_export.h"

#include <array>
#include <cstdint>

#include "core/bytes.h"

namespace ntsd::server {

std::optional<core::NtsKeys> export_nts_keys(SSL* ssl, const core::KeDecision& decision) {
  if (!decision.aead) return std::nullopt;
  const core::AeadAlgorithm aead = *decision.aead;
  auto length = core::aead_key_length(aead);
  std::array<std::uint8_t, core::kMaxAeadKeyLength> c2s{};
  std::array<std::uint8_t, core::kMaxAeadKeyLength> s2c{};
  auto exported = [&](std::uint8_t* out, bool server_to_client) {
    // AEAD 30 without record 1024: id 15 in the context (core::exporter_context_aead).
    auto context = core::exporter_context(
        core::exporter_context_aead(aead, decision.compliant_gcm_siv), server_to_client);
    return SSL_export_keying_material(ssl, out, length, core::kNtsExporterLabel.data(),
                                      core::kNtsExporterLabel.size(), context.data(),
                                      context.size(), 1) == 1;
  };
  std::optional<core::NtsKeys> keys;
  if (exported(c2s.data(), false) && exported(s2c.data(), true)) {
    keys = core::NtsKeys::create(aead, {c2s.data(), length}, {s2c.data(), length});
  }
  core::secure_wipe(c2s.data(), c2s.size());
  core::secure_wipe(s2c.data(), s2c.size());
  return keys;
}

}  // namespace ntsd::server
