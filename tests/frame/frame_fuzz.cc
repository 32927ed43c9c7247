// Properties checked on every input, with abort() so that a violation is a
// crash libFuzzer reports:
//  - a frame comes out only if it re-encodes to exactly the bytes it was
//    decoded from, so nothing but an intact, correctly keyed frame passes;
//  - errors are kDataLoss and sticky, and no frame follows one;
//  - pending_bytes() accounts for every byte not yet returned.
#include "tests/frame/frame_fuzz.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "executors/transport/frame.h"

namespace cf::internal::frame_fuzz {

FrameKey Key() {
  static const FrameKey key = *FrameKey::FromBytes("cf frame fuzzkey");
  return key;
}

std::string Input(std::uint16_t split, std::string_view stream) {
  std::string input;
  input.push_back(static_cast<char>(split & 0xff));
  input.push_back(static_cast<char>(split >> 8));
  input.append(stream);
  return input;
}

namespace {

#define FUZZ_CHECK(cond)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                  \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

struct State {
  std::string_view stream;
  std::size_t received = 0;  // bytes of `stream` given to the decoder
  std::size_t consumed = 0;  // bytes of `stream` returned as frames
  std::optional<absl::Status> error;
};

void Drain(FrameDecoder& decoder, State& s) {
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    if (!next.ok()) {
      FUZZ_CHECK(next.status().code() == absl::StatusCode::kDataLoss);
      if (s.error) FUZZ_CHECK(next.status() == *s.error);
      s.error = next.status();
      absl::StatusOr<std::optional<Frame>> again = decoder.Next();
      FUZZ_CHECK(!again.ok() && again.status() == *s.error);
      return;
    }
    FUZZ_CHECK(!s.error);
    if (!next->has_value()) {
      FUZZ_CHECK(decoder.pending_bytes() == s.received - s.consumed);
      return;
    }
    const Frame& frame = **next;
    const auto kind = static_cast<std::uint8_t>(frame.kind);
    FUZZ_CHECK(kind >= static_cast<std::uint8_t>(FrameKind::kHello) &&
               kind <= static_cast<std::uint8_t>(FrameKind::kIdentity));
    FUZZ_CHECK(frame.payload.size() <= kMaxPayload);
    std::string encoded;
    AppendFrame(Key(), frame.kind, frame.id, frame.payload, &encoded);
    FUZZ_CHECK(encoded.size() <= s.received - s.consumed);
    FUZZ_CHECK(s.stream.substr(s.consumed, encoded.size()) == encoded);
    s.consumed += encoded.size();
  }
}

}  // namespace
}  // namespace cf::internal::frame_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using cf::internal::FrameDecoder;
  namespace fuzz = cf::internal::frame_fuzz;
  if (size < 2) return 0;
  fuzz::State s;
  s.stream =
      std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split =
      (data[0] | std::size_t{data[1]} << 8) % (s.stream.size() + 1);
  FrameDecoder decoder(fuzz::Key(), fuzz::kMaxPayload);

  decoder.Append(s.stream.substr(0, split));
  s.received = split;
  fuzz::Drain(decoder, s);

  const std::string_view rest = s.stream.substr(split);
  absl::Span<char> space = decoder.WritableSpace(rest.size());
  FUZZ_CHECK(space.size() >= rest.size());
  if (!rest.empty()) std::memcpy(space.data(), rest.data(), rest.size());
  decoder.Commit(rest.size());
  s.received = s.stream.size();
  fuzz::Drain(decoder, s);
  return 0;
}
