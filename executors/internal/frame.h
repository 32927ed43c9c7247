// The framing of the byte stream between a ProcessPoolExecutor and its worker
// processes: each message is one authenticated frame.
//
// Nothing in a frame may be used before its tag has been checked: a task frame
// names a function the worker will call, so a corrupted or forged frame must
// never reach the code that acts on it. Every frame carries a 128-bit SipHash
// tag (libsodium's crypto_shorthash_siphashx24) keyed with a per-pool random
// key, over its header and payload; FrameDecoder hands out a frame only after
// its tag matched, and once a stream is found corrupt it stays dead.
//
// Wire format (integers little endian):
//
//   "cfF1" | kind (1) | 3 zero bytes | id (8) | payload size (8) | payload |
//   tag (16) over everything before it
#ifndef CF_EXECUTORS_INTERNAL_FRAME_H_
#define CF_EXECUTORS_INTERNAL_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cf::internal {

// Decoding rejects any other value.
enum class FrameKind : std::uint8_t {
  kHello = 1,
  kTask,
  kResult,
  kError,
  kShutdown,
  kBye,
};

struct Frame {
  FrameKind kind;
  std::uint64_t id;
  std::string payload;

  friend bool operator==(const Frame&, const Frame&) = default;
};

inline constexpr std::size_t kFrameHeaderSize = 24;
inline constexpr std::size_t kFrameTagSize = 16;
// Header and tag: a frame is this much bigger than its payload.
inline constexpr std::size_t kFrameOverhead = kFrameHeaderSize + kFrameTagSize;

// The secret both ends of a stream share. Whoever knows it can make frames a
// worker will act on, so it is only ever passed to a forked child in memory.
class FrameKey {
 public:
  static constexpr std::size_t kSize = 16;

  // A fresh key from the system's CSPRNG.
  static FrameKey Random();
  // std::nullopt unless `bytes` is exactly kSize long.
  static std::optional<FrameKey> FromBytes(std::string_view bytes);

  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(key_.data()), key_.size()};
  }

 private:
  FrameKey() = default;

  std::array<unsigned char, kSize> key_;
};

// Appends the encoded frame to `*out`, growing it at most once.
void AppendFrame(const FrameKey& key, FrameKind kind, std::uint64_t id,
                 std::string_view payload, std::string* out);

// Cuts a byte stream into frames; bytes may arrive in pieces of any size.
//
// A reader either asks for WritableSpace(), read()s straight into it and
// Commit()s what it got, or Append()s bytes it already has; then it calls
// Next() until that returns std::nullopt. Once a frame's header is in, the
// buffer is grown to hold the whole frame at once, so a large payload is read
// in place with no regrowth; a payload of at least kAdoptBufferSize bytes is
// handed out in the buffer itself instead of being copied. Not thread-safe:
// a stream has one reader.
class FrameDecoder {
 public:
  // Payloads this large or larger take over the decoder's buffer.
  static constexpr std::size_t kAdoptBufferSize = std::size_t{1} << 20;

  // Frames whose header declares more than `max_payload` bytes are rejected
  // before anything is allocated for them.
  FrameDecoder(FrameKey key, std::uint64_t max_payload);

  // At least `min` writable bytes at the end of the buffered data (more if
  // the frame being received needs more); valid until the next call on this
  // decoder. Then Commit() the bytes actually written.
  absl::Span<char> WritableSpace(std::size_t min);
  void Commit(std::size_t n);
  void Append(std::string_view bytes);

  // The next complete, authenticated frame; std::nullopt if more bytes are
  // needed. A kDataLoss error once the stream is corrupt (bad magic, unknown
  // kind, nonzero reserved bytes, payload over the limit, bad tag), and the
  // same error from every later call: nothing after a corrupt frame can be
  // trusted to start where a frame starts.
  absl::StatusOr<std::optional<Frame>> Next();

  // Bytes received that are not yet part of a returned frame; nonzero at end
  // of stream means the stream was cut mid-frame.
  std::size_t pending_bytes() const { return end_ - begin_; }

 private:
  absl::Status Fail(std::string message);
  absl::Status ParseHeader(const char* header);
  void MakeRoom(std::size_t want);

  FrameKey key_;
  std::size_t max_payload_;
  absl::Status error_;
  // buf_[begin_, end_) is received and not yet consumed; buf_'s size is the
  // buffer's capacity, so bytes past end_ are scratch for the next read.
  std::string buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  // Of the frame at begin_, once its header has been validated; else 0.
  std::size_t frame_size_ = 0;
  // Stream offset of buf_[begin_], for error messages.
  std::uint64_t consumed_ = 0;
};

// Writes all of `bytes` to a blocking or non-blocking descriptor. A closed
// peer is an error Status, never a SIGPIPE: sockets get MSG_NOSIGNAL, other
// descriptors (pipes) have SIGPIPE blocked in this thread around the write.
absl::Status WriteAll(int fd, std::string_view bytes);

// Reads from `fd` until `decoder` has a frame. std::nullopt at end of stream
// on a frame boundary; kDataLoss if the stream ends mid-frame ("truncated
// frame: N bytes of a frame, then end of stream") or is corrupt.
absl::StatusOr<std::optional<Frame>> ReadFrame(int fd, FrameDecoder& decoder);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_FRAME_H_
