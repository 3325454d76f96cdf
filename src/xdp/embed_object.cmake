# Writes the BPF object INPUT as a C++ byte array into OUTPUT, so that ntsd
# carries its XDP program inside the binary (no file to install or find).
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR size "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by embed_object.cmake: do not edit.
#include \"xdp/xdp_object.h\"

namespace ntsd::xdp {
namespace {
const unsigned char kObject[${size}] = {
${bytes}
};
}  // namespace
std::span<const unsigned char> xdp_program_object() { return {kObject, sizeof kObject}; }
}  // namespace ntsd::xdp
")
