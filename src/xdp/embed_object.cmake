# Writes the BPF objects PLAIN and RX_TIMESTAMP (the program without and with
# the receive timestamp kfunc) as C++ byte arrays into OUTPUT, so that ntsd
# carries its XDP program inside the binary (no file to install or find).
function(bytes_of input result)
  file(READ "${input}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
  set(${result} "${bytes}" PARENT_SCOPE)
endfunction()
bytes_of("${PLAIN}" plain_bytes)
bytes_of("${RX_TIMESTAMP}" rx_timestamp_bytes)
file(WRITE "${OUTPUT}" "// Generated from ${PLAIN} and ${RX_TIMESTAMP} by embed_object.cmake: do not edit.
#include \"xdp/xdp_object.h\"

namespace ntsd::xdp {
namespace {
const unsigned char kPlain[] = {
${plain_bytes}
};
const unsigned char kRxTimestamp[] = {
${rx_timestamp_bytes}
};
}  // namespace
std::span<const unsigned char> xdp_program_object(bool rx_timestamp) {
  if (rx_timestamp) return {kRxTimestamp, sizeof kRxTimestamp};
  return {kPlain, sizeof kPlain};
}
}  // namespace ntsd::xdp
")
