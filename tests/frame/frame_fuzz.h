// The fuzz target for FrameDecoder and what its inputs look like, shared by
// the libFuzzer build (frame_fuzz_test.sh), the seed corpus writer and the
// gtest that replays deterministic inputs under Bazel's sanitizer configs.
//
// An input is a 2-byte little-endian split position followed by the stream:
// the decoder gets the stream in two pieces cut there, the first through
// Append(), the second through WritableSpace()/Commit().
#ifndef CF_TESTS_FRAME_FRAME_FUZZ_H_
#define CF_TESTS_FRAME_FRAME_FUZZ_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executors/transport/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace cf::internal::frame_fuzz {

// Fixed, so that seeds and the fuzzer's mutations of them carry valid tags.
FrameKey Key();
// Small, so that "payload too large" is within the fuzzer's reach.
inline constexpr std::uint64_t kMaxPayload = 4096;

// An input that feeds `stream` cut at `split`.
std::string Input(std::uint16_t split, std::string_view stream);

}  // namespace cf::internal::frame_fuzz

#endif  // CF_TESTS_FRAME_FRAME_FUZZ_H_
