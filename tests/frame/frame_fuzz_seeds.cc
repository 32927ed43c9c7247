// Writes the fuzzer's seed corpus into the directory named by argv[1]: valid
// streams of every kind and of edge-case sizes, so that the fuzzer starts
// from frames that pass the tag check instead of having to forge one.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <ios>
#include <string>
#include <utility>

#include "executors/transport/frame.h"
#include "tests/frame/frame_fuzz.h"

namespace cf::internal::frame_fuzz {
namespace {

std::string Stream(
    std::initializer_list<std::pair<FrameKind, std::size_t>> frames) {
  std::string out;
  std::uint64_t id = 1;
  for (auto [kind, size] : frames) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
      payload[i] = static_cast<char>(i * 7);
    }
    AppendFrame(Key(), kind, id++, payload, &out);
  }
  return out;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string seeds[] = {
      Input(0, Stream({{FrameKind::kHello, 0}})),
      Input(5, Stream({{FrameKind::kTask, 16}})),
      Input(30, Stream({{FrameKind::kResult, 1}, {FrameKind::kError, 15}})),
      Input(100, Stream({{FrameKind::kShutdown, 0},
                         {FrameKind::kBye, 0},
                         {FrameKind::kTask, 64}})),
      Input(1000, Stream({{FrameKind::kTask, 300}, {FrameKind::kResult, 200}})),
      Input(2000, Stream({{FrameKind::kResult, kMaxPayload}})),
      // One byte over the limit; the tags are valid, the header is not. A
      // mutated size field breaks the header tag, so this seed is the
      // fuzzer's way to "payload too large".
      Input(kFrameHeaderSize, Stream({{FrameKind::kTask, kMaxPayload + 1}})),
      // Cut mid-frame.
      Input(10, Stream({{FrameKind::kTask, 40}}).substr(0, 50)),
      // An authentic header declaring the limit, then only a few bytes.
      Input(kFrameHeaderSize, Stream({{FrameKind::kResult, kMaxPayload}})
                                  .substr(0, kFrameHeaderSize + 10)),
  };
  int n = 0;
  for (const std::string& seed : seeds) {
    const std::string path =
        std::string(argv[1]) + "/seed" + std::to_string(n++);
    std::ofstream file(path, std::ios::binary);
    file << seed;
    if (!file.flush()) {
      std::perror(path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace cf::internal::frame_fuzz

int main(int argc, char** argv) {
  return cf::internal::frame_fuzz::Main(argc, argv);
}
