// The framing between a process pool and its workers: frames round-trip
// however the stream is cut, and nothing corrupt, forged or oversized ever
// comes out as a frame.
#include "executors/transport/frame.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/frame/frame_fuzz.h"

namespace cf::internal {

void PrintTo(const Frame& f, std::ostream* os) {
  *os << "Frame{kind " << static_cast<int>(f.kind) << ", id " << f.id << ", "
      << f.payload.size() << " bytes \""
      << absl::CHexEscape(f.payload.substr(0, 32))
      << (f.payload.size() > 32 ? "\"...}" : "\"}");
}

namespace {

using ::testing::HasSubstr;

FrameKey TestKey() { return *FrameKey::FromBytes("0123456789abcdef"); }

std::string Encode(const FrameKey& key, const Frame& f) {
  std::string out;
  AppendFrame(key, f.kind, f.id, f.payload, &out);
  return out;
}

std::string Encode(const Frame& f) { return Encode(TestKey(), f); }

std::string LittleEndian64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

// A header built and tagged here, from the documented format rather than
// AppendFrame, so that tests can declare any size (without the payload) or
// any kind, and still carry the header tag a key holder would give it.
std::string Header(const FrameKey& key, std::uint8_t kind, std::uint64_t id,
                   std::uint64_t payload_size, char reserved = 0) {
  std::string h = "cfF2";
  h += static_cast<char>(kind);
  h += std::string(3, reserved);
  h += LittleEndian64(id);
  h += LittleEndian64(payload_size);
  unsigned char tag[crypto_shorthash_siphash24_BYTES];
  crypto_shorthash_siphash24(
      tag, reinterpret_cast<const unsigned char*>(h.data()), h.size(),
      reinterpret_cast<const unsigned char*>(key.bytes().data()));
  h.append(reinterpret_cast<const char*>(tag), sizeof(tag));
  return h;
}

std::string Header(std::uint8_t kind, std::uint64_t id,
                   std::uint64_t payload_size, char reserved = 0) {
  return Header(TestKey(), kind, id, payload_size, reserved);
}

// The process's resident set, from /proc/self/statm.
std::size_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int fields = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (fields != 2) return 0;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Feeds `bytes` the way the pool's manager does: ReadSpace(), a "read" of
// what fits, Commit(), then Next() until it wants more.
absl::StatusOr<std::vector<Frame>> FeedLikeTheManager(FrameDecoder& decoder,
                                                      std::string_view bytes) {
  std::vector<Frame> frames;
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    if (!next.ok()) return next.status();
    if (next->has_value()) {
      frames.push_back(std::move(**next));
      continue;
    }
    if (bytes.empty()) return frames;
    absl::Span<char> space = decoder.ReadSpace();
    const std::size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    decoder.Commit(n);
    bytes.remove_prefix(n);
  }
}

// Everything the decoder returns until it wants more bytes; fails the test on
// an error.
void DrainInto(FrameDecoder& decoder, std::vector<Frame>* frames) {
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    ASSERT_TRUE(next.ok()) << next.status();
    if (!next->has_value()) return;
    frames->push_back(std::move(**next));
  }
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<Frame> RandomFrames(std::mt19937_64& rng, int n,
                                std::size_t max_size) {
  std::vector<Frame> frames;
  for (int i = 0; i < n; ++i) {
    const auto kind = static_cast<FrameKind>(1 + rng() % 6);
    // Mostly small, sometimes empty, sometimes big.
    std::size_t size = rng() % 64;
    if (rng() % 8 == 0) size = 0;
    if (rng() % 8 == 0) size = rng() % (max_size + 1);
    frames.push_back({kind, rng(), RandomBytes(rng, size)});
  }
  return frames;
}

class SocketPair {
 public:
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    fd_[0] = fds[0];
    fd_[1] = fds[1];
  }
  ~SocketPair() {
    Close(0);
    Close(1);
  }
  int fd(int i) const { return fd_[i]; }
  void Close(int i) {
    if (fd_[i] >= 0) close(fd_[i]);
    fd_[i] = -1;
  }

 private:
  int fd_[2] = {-1, -1};
};

void SetNonBlocking(int fd) {
  ASSERT_EQ(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

// ------------------------------------------------------------- key, format

TEST(FrameKeyTest, FromBytesTakesExactlySixteenBytes) {
  EXPECT_FALSE(FrameKey::FromBytes("").has_value());
  EXPECT_FALSE(FrameKey::FromBytes("0123456789abcde").has_value());
  EXPECT_FALSE(FrameKey::FromBytes("0123456789abcdefg").has_value());
  std::optional<FrameKey> key = FrameKey::FromBytes("0123456789abcdef");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->bytes(), "0123456789abcdef");
}

TEST(FrameKeyTest, RandomKeysAreFreshAndFullLength) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    FrameKey key = FrameKey::Random();
    ASSERT_EQ(key.bytes().size(), FrameKey::kSize);
    seen.insert(std::string(key.bytes()));
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(FrameFormatTest, MatchesTheDocumentedLayoutAndSipHashTags) {
  std::string out = "prefix";
  AppendFrame(TestKey(), FrameKind::kResult, 0x0102030405060708, "abc", &out);

  std::string expected = "prefix";
  expected += std::string("cfF2\x03\0\0\0", 8);
  expected += std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  expected += std::string("\x03\0\0\0\0\0\0\0", 8);
  unsigned char header_tag[crypto_shorthash_siphash24_BYTES];
  crypto_shorthash_siphash24(
      header_tag, reinterpret_cast<const unsigned char*>(expected.data()) + 6,
      expected.size() - 6,
      reinterpret_cast<const unsigned char*>(TestKey().bytes().data()));
  expected.append(reinterpret_cast<const char*>(header_tag),
                  sizeof(header_tag));
  ASSERT_EQ(expected.size() - 6, kFrameHeaderSize);
  EXPECT_EQ(expected.substr(6), Header(3, 0x0102030405060708, 3));
  expected += "abc";
  unsigned char tag[crypto_shorthash_siphashx24_BYTES];
  crypto_shorthash_siphashx24(
      tag, reinterpret_cast<const unsigned char*>(expected.data()) + 6,
      expected.size() - 6,
      reinterpret_cast<const unsigned char*>(TestKey().bytes().data()));
  expected.append(reinterpret_cast<const char*>(tag), sizeof(tag));
  EXPECT_EQ(absl::CHexEscape(out), absl::CHexEscape(expected));
}

// ---------------------------------------------------------------- round trip

TEST(FrameDecoderTest, RoundTripsRandomFramesSplitAtEveryByte) {
  std::mt19937_64 rng(42);
  const std::vector<Frame> frames = RandomFrames(rng, 40, 400);
  std::string stream;
  for (const Frame& f : frames) stream += Encode(f);

  for (std::size_t split = 0; split <= stream.size(); ++split) {
    SCOPED_TRACE(split);
    FrameDecoder decoder(TestKey(), 400);
    std::vector<Frame> got;
    decoder.Append(std::string_view(stream).substr(0, split));
    DrainInto(decoder, &got);
    decoder.Append(std::string_view(stream).substr(split));
    DrainInto(decoder, &got);
    ASSERT_EQ(got, frames);
    ASSERT_EQ(decoder.pending_bytes(), 0u);
  }
}

TEST(FrameDecoderTest, RoundTripsByteByByteThroughWritableSpace) {
  std::mt19937_64 rng(7);
  const std::vector<Frame> frames = RandomFrames(rng, 60, 1000);
  std::string stream;
  for (const Frame& f : frames) stream += Encode(f);

  FrameDecoder decoder(TestKey(), 1000);
  std::vector<Frame> got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    absl::Span<char> space = decoder.WritableSpace(1);
    ASSERT_GE(space.size(), 1u);
    space[0] = stream[i];
    decoder.Commit(1);
    // Exactly the frames complete by now, no sooner.
    DrainInto(decoder, &got);
  }
  EXPECT_EQ(got, frames);
  EXPECT_EQ(decoder.pending_bytes(), 0u);
}

TEST(FrameDecoderTest, RoundTripsRandomReadSizes) {
  std::mt19937_64 rng(99);
  const std::vector<Frame> frames = RandomFrames(rng, 300, 100000);
  std::string stream;
  for (const Frame& f : frames) stream += Encode(f);

  FrameDecoder decoder(TestKey(), 100000);
  std::vector<Frame> got;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t want = 1 + rng() % 5000;
    absl::Span<char> space = decoder.WritableSpace(want);
    ASSERT_GE(space.size(), want);
    // A read may return less than the space offered.
    const std::size_t n =
        std::min({space.size(), stream.size() - at, 1 + rng() % space.size()});
    std::memcpy(space.data(), stream.data() + at, n);
    decoder.Commit(n);
    at += n;
    DrainInto(decoder, &got);
  }
  EXPECT_EQ(got, frames);
}

TEST(FrameDecoderTest, PendingBytesCountsAnIncompleteFrame) {
  const std::string bytes = Encode({FrameKind::kTask, 1, "payload"});
  FrameDecoder decoder(TestKey(), 100);
  decoder.Append(std::string_view(bytes).substr(0, 30));
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(decoder.pending_bytes(), 30u);
}

TEST(FrameDecoderTest, EmptyPayloadRoundTrips) {
  const Frame frame{FrameKind::kShutdown, 0, ""};
  const std::string bytes = Encode(frame);
  EXPECT_EQ(bytes.size(), kFrameOverhead);
  FrameDecoder decoder(TestKey(), 0);
  decoder.Append(bytes);
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, frame);
}

TEST(FrameDecoderTest, PayloadOfExactlyTheLimitIsAccepted) {
  const Frame frame{FrameKind::kTask, 9, std::string(1000, 'x')};
  FrameDecoder decoder(TestKey(), 1000);
  decoder.Append(Encode(frame));
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, frame);
}

TEST(FrameDecoderTest, PayloadOverTheLimitIsRejectedFromTheHeaderAlone) {
  const std::string bytes =
      Encode({FrameKind::kTask, 9, std::string(1001, 'x')});
  FrameDecoder decoder(TestKey(), 1000);
  // Before the payload arrives: nothing is allocated for it.
  decoder.Append(std::string_view(bytes).substr(0, kFrameHeaderSize));
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(next.status().message(), HasSubstr("payload too large"));
  EXPECT_THAT(next.status().message(), HasSubstr("1001"));
  EXPECT_THAT(next.status().message(), HasSubstr("1000"));
}

TEST(FrameDecoderTest, HugeDeclaredSizeIsRejectedNotAllocated) {
  // Even with a header tag that matches: over the limit is over the limit.
  const std::string bytes = Header(2, 9, ~std::uint64_t{0});
  FrameDecoder decoder(TestKey(), std::uint64_t{1} << 32);
  decoder.Append(bytes);
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(next.status().message(),
              HasSubstr("declares 18446744073709551615 bytes, the limit is "
                        "4294967296"));
  EXPECT_LE(decoder.buffered_capacity(), FrameDecoder::kMinBufferSize);
}

// ---------------------------------------------------------------- corruption

absl::Status CorruptionError(std::string bytes) {
  FrameDecoder decoder(TestKey(), 64);
  decoder.Append(bytes);
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  if (next.ok()) {
    return absl::InternalError(next->has_value() ? "got a frame"
                                                 : "wants more bytes");
  }
  return next.status();
}

TEST(FrameDecoderTest, EverySingleBitFlipIsRejectedBeforeAnyFrame) {
  const std::string frame =
      Encode({FrameKind::kTask, 0x0102030405060708, "hello, worker"});
  // Valid frames after the corrupt one, so that if a flip that makes the
  // declared size bigger (up to the limit of 64) ever got past the header
  // tag, the frame tag would still be checked.
  const std::string after =
      Encode({FrameKind::kResult, 1, std::string(20, 'a')}) +
      Encode({FrameKind::kResult, 2, std::string(20, 'b')});
  ASSERT_GE(frame.size() + after.size(), kFrameOverhead + 64);

  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
    SCOPED_TRACE(::testing::Message()
                 << "byte " << bit / 8 << " bit " << bit % 8);
    std::string bytes = frame + after;
    bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
    const absl::Status error = CorruptionError(bytes);
    ASSERT_EQ(error.code(), absl::StatusCode::kDataLoss) << error;
    // Past the magic, any flip in the header (its fields or its tag) is
    // caught by the header tag, before the declared size is used at all.
    const std::size_t byte = bit / 8;
    if (byte < 4) {
      EXPECT_THAT(error.message(), HasSubstr("bad magic"));
    } else if (byte < kFrameHeaderSize) {
      EXPECT_THAT(error.message(), HasSubstr("bad header tag"));
    } else {
      EXPECT_THAT(error.message(), HasSubstr("bad tag on a frame"));
    }

    // Alone, the flipped frame never decodes either; at most the decoder
    // waits for bytes that will never come.
    FrameDecoder alone(TestKey(), 64);
    alone.Append(std::string_view(bytes).substr(0, frame.size()));
    absl::StatusOr<std::optional<Frame>> next = alone.Next();
    ASSERT_TRUE(!next.ok() || !next->has_value());
  }
}

TEST(FrameDecoderTest, ErrorsNameWhatIsWrong) {
  const std::string good = Encode({FrameKind::kTask, 5, "abc"});
  std::string bytes = good;
  bytes[0] = 'X';
  EXPECT_THAT(CorruptionError(bytes).message(),
              HasSubstr("bad magic \"XfF2\", expected \"cfF2\""));
  // A peer of the previous format version is named by its magic.
  bytes = good;
  bytes[3] = '1';
  EXPECT_THAT(CorruptionError(bytes).message(),
              HasSubstr("bad magic \"cfF1\", expected \"cfF2\""));
  bytes = good;
  bytes[4] = 0;
  EXPECT_THAT(CorruptionError(bytes).message(), HasSubstr("bad header tag"));
  bytes = good;
  bytes[kFrameHeaderSize - 1] ^= 1;
  EXPECT_THAT(CorruptionError(bytes).message(), HasSubstr("bad header tag"));
  bytes = good;
  bytes[kFrameHeaderSize + 1] ^= 1;
  EXPECT_THAT(CorruptionError(bytes).message(),
              HasSubstr("bad tag on a frame of 3 payload bytes"));

  // Fields a key holder got wrong (never this build's AppendFrame) are still
  // named once their header tag matched.
  EXPECT_THAT(CorruptionError(Header(0, 5, 3) + "abc").message(),
              HasSubstr("unknown frame kind 0"));
  EXPECT_THAT(CorruptionError(Header(8, 5, 3) + "abc").message(),
              HasSubstr("unknown frame kind 8"));
  EXPECT_THAT(CorruptionError(Header(2, 5, 3, '\x01') + "abc").message(),
              HasSubstr("nonzero reserved bytes"));
}

TEST(FrameDecoderTest, ErrorsSayWhereInTheStream) {
  std::string second = Encode({FrameKind::kTask, 6, "def"});
  second.back() ^= 1;
  FrameDecoder decoder(TestKey(), 100);
  decoder.Append(Encode({FrameKind::kTask, 5, "abc"}) + second);
  ASSERT_TRUE(decoder.Next().ok());
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_THAT(next.status().message(),
              HasSubstr("(frame at byte 51 of the stream)"));
}

TEST(FrameDecoderTest, FrameFromAnotherKeyFailsAtItsHeader) {
  const FrameKey other = *FrameKey::FromBytes("fedcba9876543210");
  const std::string bytes = Encode(other, {FrameKind::kTask, 1, "call me"});
  FrameDecoder decoder(TestKey(), 100);
  decoder.Append(std::string_view(bytes).substr(0, kFrameHeaderSize));
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(next.status().message(), HasSubstr("bad header tag"));
}

TEST(FrameDecoderTest, ErrorIsStickyAndNoLaterFrameComesOut) {
  std::string bad = Encode({FrameKind::kTask, 1, "x"});
  bad[0] = 'X';
  FrameDecoder decoder(TestKey(), 100);
  decoder.Append(bad);
  absl::StatusOr<std::optional<Frame>> first = decoder.Next();
  ASSERT_FALSE(first.ok());
  decoder.Append(Encode({FrameKind::kTask, 2, "y"}));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.status(), first.status());
  }
}

// -------------------------------------------------------------- large frames

TEST(FrameDecoderTest, LargeFrameArrivingInSmallPiecesDecodes) {
  // Over kAdoptBufferSize, followed by a small frame in the same stream.
  constexpr std::size_t kPayload = 5 << 20;
  std::mt19937_64 rng(5);
  const Frame large{FrameKind::kResult, 3, RandomBytes(rng, kPayload)};
  const Frame small{FrameKind::kResult, 4, "after"};
  const std::string stream = Encode(large) + Encode(small);

  for (bool append : {false, true}) {
    SCOPED_TRACE(append ? "Append" : "WritableSpace");
    FrameDecoder decoder(TestKey(), kPayload);
    std::vector<Frame> got;
    // Times the next read did not land right after the previous one: every
    // regrowth moves the buffer.
    int moves = 0;
    const char* expected_at = nullptr;
    std::size_t at = 0;
    while (at < stream.size()) {
      // Like reads off a slow socket: a few KiB at a time.
      const std::size_t n =
          std::min<std::size_t>(1 + rng() % 8192, stream.size() - at);
      if (append) {
        decoder.Append(std::string_view(stream).substr(at, n));
      } else {
        absl::Span<char> space = decoder.WritableSpace(64 * 1024);
        ASSERT_GE(space.size(), 64u * 1024);
        if (space.data() != expected_at) ++moves;
        std::memcpy(space.data(), stream.data() + at, n);
        decoder.Commit(n);
        expected_at = space.data() + n;
      }
      at += n;
      // Memory follows what arrived: a small multiple of it, plus a chunk.
      ASSERT_LE(decoder.buffered_capacity(),
                4 * (decoder.pending_bytes() + 64 * 1024));
      DrainInto(decoder, &got);
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0] == large);
    EXPECT_EQ(got[1], small);
    EXPECT_EQ(decoder.pending_bytes(), 0u);
    if (!append) {
      // Geometric growth: a handful of buffers from 64 KiB to 5 MiB, not one
      // per read, so a large frame is copied about once more, not N times.
      EXPECT_GE(moves, 2);
      EXPECT_LE(moves, 12);
    }
  }
}

// A worker's stream is mostly small frames: reading them must not fill a
// large buffer up front (each page is a fault, a copy-on-write one in a
// freshly forked worker), while a stream that carries bulk soon reads in
// large pieces.
TEST(FrameDecoderTest, ReadSpaceStaysOnePageForSmallFramesAndGrowsForBulk) {
  FrameDecoder decoder(TestKey(), 1 << 20);
  for (std::uint64_t id = 1; id <= 200; ++id) {
    absl::StatusOr<std::vector<Frame>> got = FeedLikeTheManager(
        decoder, Encode({FrameKind::kResult, id, std::string(100, 'r')}));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ(got->front().id, id);
  }
  EXPECT_LE(decoder.buffered_capacity(), FrameDecoder::kMinBufferSize);
  EXPECT_LT(decoder.ReadSpace().size(), 2 * FrameDecoder::kMinBufferSize);
  decoder.Commit(0);

  // Reads that fill all the room offered: the offer doubles up to the cap.
  std::size_t offered = 0;
  for (int i = 0; i < 10; ++i) {
    absl::Span<char> space = decoder.ReadSpace();
    offered = space.size();
    decoder.Commit(space.size());  // garbage, but Next() is not called
  }
  EXPECT_GE(offered, FrameDecoder::kMaxReadSize);
}

// The issue this guards against: a peer that writes one header declaring a
// huge (allowed) payload, and then nothing, made the reader zero-fill the
// whole declared size before a single tag was checked.
TEST(FrameDecoderTest, BufferFollowsTheBytesReceivedNotTheDeclaredSize) {
  constexpr std::uint64_t kMax = std::uint64_t{4} << 30;
  const std::size_t rss_before = ResidentBytes();
  FrameDecoder decoder(TestKey(), kMax);

  // An authentic header declaring the maximum (as a key holder could send),
  // and a few bytes of payload: the pool's manager reads it, and keeps
  // asking for room while the peer sends nothing more.
  const std::string start = Header(3, 1, kMax) + "12345";
  absl::StatusOr<std::vector<Frame>> got = FeedLikeTheManager(decoder, start);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
  for (int i = 0; i < 10; ++i) {
    ASSERT_GE(decoder.WritableSpace(64 * 1024).size(), 64u * 1024);
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    ASSERT_TRUE(next.ok()) << next.status();
    ASSERT_FALSE(next->has_value());
  }
  EXPECT_EQ(decoder.pending_bytes(), kFrameHeaderSize + 5);
  EXPECT_LE(decoder.buffered_capacity(), 256u * 1024);

  // Then 3 MiB of the payload, in pieces: the buffer grows with them.
  std::mt19937_64 rng(3);
  const std::string more = RandomBytes(rng, 3 << 20);
  for (std::size_t at = 0; at < more.size(); at += 100 * 1024) {
    got = FeedLikeTheManager(decoder,
                             std::string_view(more).substr(at, 100 * 1024));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->empty());
    ASSERT_LE(decoder.buffered_capacity(),
              4 * (decoder.pending_bytes() + 64 * 1024));
  }
  EXPECT_EQ(decoder.pending_bytes(), kFrameHeaderSize + 5 + more.size());
  EXPECT_LE(decoder.buffered_capacity(), 16u << 20);
  // And the process agrees (4 GiB before this was fixed): a loose bound, as
  // the allocator and test framework move the resident set a little too.
  const std::size_t rss_after = ResidentBytes();
  EXPECT_LT(rss_after, rss_before + (64u << 20))
      << "resident set grew from " << rss_before << " to " << rss_after;
}

TEST(FrameDecoderTest, ForgedHeaderIsRejectedBeforeAnyPayloadIsBuffered) {
  // A real header whose declared size was rewritten by someone without the
  // key, and one with a made-up tag: both declare 4 GiB, which the limit
  // would allow.
  constexpr std::uint64_t kMax = std::uint64_t{4} << 30;
  std::string rewritten = Encode({FrameKind::kTask, 1, "sixteen bytes..."});
  rewritten.resize(kFrameHeaderSize);
  rewritten.replace(16, 8, LittleEndian64(kMax));
  std::string made_up = Header(2, 1, kMax);
  made_up.replace(kFrameHeaderSize - kFrameHeaderTagSize, kFrameHeaderTagSize,
                  "\x01\x02\x03\x04\x05\x06\x07\x08");

  for (const std::string& forged : {rewritten, made_up}) {
    FrameDecoder decoder(TestKey(), kMax);
    // Exactly the header: the verdict cannot wait for payload bytes.
    absl::StatusOr<std::vector<Frame>> got =
        FeedLikeTheManager(decoder, forged);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(got.status().message(), HasSubstr("bad header tag"));
    EXPECT_THAT(got.status().message(), HasSubstr("(frame at byte 0 "));
    EXPECT_EQ(decoder.pending_bytes(), kFrameHeaderSize);
    EXPECT_LE(decoder.buffered_capacity(), FrameDecoder::kMinBufferSize);
    // Nor does anything that follows revive the stream.
    decoder.Append(std::string(1000, 'p'));
    EXPECT_EQ(decoder.Next().status(), got.status());
  }
}

// The worker's end: ReadFrame over a socket.
TEST(FrameIoTest, ReadFrameRejectsAForgedHeaderWithoutWaitingForItsPayload) {
  constexpr std::uint64_t kMax = std::uint64_t{4} << 30;
  std::string forged = Header(2, 1, 16);
  forged.replace(16, 8, LittleEndian64(kMax));
  SocketPair pair;
  ASSERT_TRUE(WriteAll(pair.fd(0), forged).ok());
  // The writer stays open, as a peer that stalls would. Had ReadFrame waited
  // for the payload it would block forever; the watchdog turns that into a
  // failure (a truncated stream) instead of a hung test.
  std::promise<void> returned;
  std::thread watchdog([&, done = returned.get_future()] {
    if (done.wait_for(std::chrono::seconds(30)) ==
        std::future_status::timeout) {
      shutdown(pair.fd(0), SHUT_WR);
    }
  });
  FrameDecoder decoder(TestKey(), kMax);
  absl::StatusOr<std::optional<Frame>> next = ReadFrame(pair.fd(1), decoder);
  returned.set_value();
  watchdog.join();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(next.status().message(), HasSubstr("bad header tag"));
  EXPECT_LE(decoder.buffered_capacity(), FrameDecoder::kMinBufferSize);
}

TEST(FrameIoTest, ReadFrameOnAHeaderAndThenSilenceCostsLittle) {
  constexpr std::uint64_t kMax = std::uint64_t{4} << 30;
  const std::size_t rss_before = ResidentBytes();
  SocketPair pair;
  ASSERT_TRUE(WriteAll(pair.fd(0), Header(2, 1, kMax) + "12345").ok());
  pair.Close(0);
  FrameDecoder decoder(TestKey(), kMax);
  absl::StatusOr<std::optional<Frame>> next = ReadFrame(pair.fd(1), decoder);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().message(),
            "truncated frame: " + std::to_string(kFrameHeaderSize + 5) +
                " bytes of a frame, then end of stream");
  EXPECT_LE(decoder.buffered_capacity(), 256u * 1024);
  const std::size_t rss_after = ResidentBytes();
  EXPECT_LT(rss_after, rss_before + (64u << 20))
      << "resident set grew from " << rss_before << " to " << rss_after;
}

TEST(FrameDecoderTest, LargeFramesBackToBackInOneAppend) {
  // The first large payload takes over the buffer; what follows it must
  // survive that.
  const std::vector<Frame> frames = {
      {FrameKind::kResult, 1, std::string(3 << 20, 'a')},
      {FrameKind::kResult, 2, "small"},
      {FrameKind::kResult, 3, std::string(2 << 20, 'b')},
      {FrameKind::kResult, 4, std::string(2 << 20, 'c')},
  };
  std::string stream;
  for (const Frame& f : frames) stream += Encode(f);
  FrameDecoder decoder(TestKey(), 3 << 20);
  decoder.Append(stream.substr(0, 100));
  std::vector<Frame> got;
  DrainInto(decoder, &got);
  decoder.Append(stream.substr(100));
  DrainInto(decoder, &got);
  EXPECT_EQ(got, frames);
  EXPECT_EQ(decoder.pending_bytes(), 0u);
}

TEST(FrameIoTest, SixtyFourMebibytePayloadThroughASocketPair) {
  constexpr std::size_t kPayload = 64 << 20;
  std::string payload(kPayload, '\0');
  for (std::size_t i = 0; i < kPayload; i += 4096) {
    payload[i] = static_cast<char>(i >> 12);
  }
  std::string bytes;
  AppendFrame(TestKey(), FrameKind::kTask, 77, payload, &bytes);
  AppendFrame(TestKey(), FrameKind::kShutdown, 78, "", &bytes);

  SocketPair pair;
  // Non-blocking, so that WriteAll has to wait for room more than once.
  SetNonBlocking(pair.fd(0));
  absl::Status written;
  std::thread writer([&] {
    written = WriteAll(pair.fd(0), bytes);
    pair.Close(0);
  });
  FrameDecoder decoder(TestKey(), kPayload);
  absl::StatusOr<std::optional<Frame>> first = ReadFrame(pair.fd(1), decoder);
  absl::StatusOr<std::optional<Frame>> second = ReadFrame(pair.fd(1), decoder);
  absl::StatusOr<std::optional<Frame>> end = ReadFrame(pair.fd(1), decoder);
  writer.join();

  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->kind, FrameKind::kTask);
  EXPECT_EQ((*first)->id, 77u);
  EXPECT_TRUE((*first)->payload == payload);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ(**second, (Frame{FrameKind::kShutdown, 78, ""}));
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_FALSE(end->has_value());
}

// ------------------------------------------------------------------- I/O

TEST(FrameIoTest, ReadFrameReturnsFramesThenNulloptAtCleanEnd) {
  SocketPair pair;
  std::string bytes =
      Encode({FrameKind::kHello, 0, "hi"}) + Encode({FrameKind::kBye, 0, ""});
  ASSERT_TRUE(WriteAll(pair.fd(0), bytes).ok());
  pair.Close(0);
  FrameDecoder decoder(TestKey(), 100);
  std::vector<Frame> got;
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = ReadFrame(pair.fd(1), decoder);
    ASSERT_TRUE(next.ok()) << next.status();
    if (!next->has_value()) break;
    got.push_back(std::move(**next));
  }
  EXPECT_EQ(got, (std::vector<Frame>{{FrameKind::kHello, 0, "hi"},
                                     {FrameKind::kBye, 0, ""}}));
}

TEST(FrameIoTest, ReadFrameReportsATruncatedStream) {
  for (std::size_t cut : {std::size_t{1}, kFrameHeaderSize - 1,
                          kFrameHeaderSize, std::size_t{56}}) {
    SCOPED_TRACE(cut);
    SocketPair pair;
    std::string bytes = Encode({FrameKind::kTask, 1, "0123456789abc"});
    ASSERT_EQ(bytes.size(), 61u);
    ASSERT_TRUE(WriteAll(pair.fd(0), bytes.substr(0, cut)).ok());
    pair.Close(0);
    FrameDecoder decoder(TestKey(), 100);
    absl::StatusOr<std::optional<Frame>> next = ReadFrame(pair.fd(1), decoder);
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(next.status().message(),
              "truncated frame: " + std::to_string(cut) +
                  " bytes of a frame, then end of stream");
  }
}

TEST(FrameIoTest, ReadFrameWaitsOnANonBlockingDescriptor) {
  SocketPair pair;
  SetNonBlocking(pair.fd(1));
  const Frame frame{FrameKind::kResult, 12, "later"};
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(WriteAll(pair.fd(0), Encode(frame)).ok());
  });
  FrameDecoder decoder(TestKey(), 100);
  absl::StatusOr<std::optional<Frame>> next = ReadFrame(pair.fd(1), decoder);
  writer.join();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, frame);
}

TEST(FrameIoTest, WriteAllToAClosedSocketIsAnErrorNotSigpipe) {
  SocketPair pair;
  pair.Close(1);
  // Big enough that no buffer could take it even if the close raced.
  absl::Status status = WriteAll(pair.fd(0), std::string(1 << 20, 'x'));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("peer closed"));
}

TEST(FrameIoTest, WriteAllToAClosedPipeIsAnErrorNotSigpipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);

  absl::Status status = WriteAll(fds[1], "bytes");
  close(fds[1]);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;

  // Nothing left behind: no SIGPIPE pending, the signal mask as it was.
  sigset_t pending, after;
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  EXPECT_EQ(sigismember(&after, SIGPIPE), sigismember(&before, SIGPIPE));
}

TEST(FrameIoTest, WriteAllReportsABadDescriptor) {
  absl::Status status = WriteAll(-1, "bytes");
  EXPECT_FALSE(status.ok());
}

// ------------------------------------------------------------------ fuzzing

// The fuzz target's own checks abort on a violation; here they run over
// deterministic inputs under whatever sanitizer Bazel was given.
TEST(FrameFuzzTest, FuzzBodyHoldsOnDeterministicInputs) {
  namespace fuzz = frame_fuzz;
  std::mt19937_64 rng(2024);
  auto valid_stream = [&] {
    std::string stream;
    for (const Frame& f : RandomFrames(rng, 1 + rng() % 4, 300)) {
      AppendFrame(fuzz::Key(), f.kind, f.id, f.payload, &stream);
    }
    return stream;
  };
  for (int i = 0; i < 4800; ++i) {
    std::string stream;
    switch (i % 6) {
      case 0:  // noise
        stream = RandomBytes(rng, rng() % 200);
        break;
      case 1:  // valid
        stream = valid_stream();
        break;
      case 2:  // valid, then a few bits flipped
        stream = valid_stream();
        for (int flips = 1 + rng() % 3; flips > 0; --flips) {
          stream[rng() % stream.size()] ^= static_cast<char>(1 << rng() % 8);
        }
        break;
      case 3:  // valid, cut short or with garbage after it
        stream = valid_stream();
        if (rng() % 2) {
          stream.resize(rng() % stream.size());
        } else {
          stream += RandomBytes(rng, 1 + rng() % 40);
        }
        break;
      case 4: {  // a header with a random field or tag byte, valid magic
        stream = valid_stream();
        const std::size_t at = 4 + rng() % (kFrameHeaderSize - 4);
        stream[at] = static_cast<char>(rng());
        break;
      }
      case 5: {  // random fields under a matching header tag (a key holder's)
        stream = valid_stream();
        const std::uint64_t size =
            rng() % 2 ? rng() % (fuzz::kMaxPayload + 2) : rng();
        stream.replace(0, kFrameHeaderSize,
                       Header(fuzz::Key(), static_cast<std::uint8_t>(rng() % 8),
                              rng(), size, rng() % 8 == 0 ? '\x01' : '\0'));
        break;
      }
    }
    const std::string input =
        fuzz::Input(static_cast<std::uint16_t>(rng()), stream);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()),
                           input.size());
  }
  // Inputs too short to hold a split position are ignored.
  LLVMFuzzerTestOneInput(nullptr, 0);
  const std::uint8_t one = 0;
  LLVMFuzzerTestOneInput(&one, 1);
}

}  // namespace
}  // namespace cf::internal
