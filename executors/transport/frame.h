// The framing of the byte stream between a ProcessPoolExecutor and its worker
// processes: each message is one authenticated frame.
//
// Nothing in a frame may be used before its tag has been checked: a task frame
// names a function the worker will call, so a corrupted or forged frame must
// never reach the code that acts on it. Nor may an unchecked header decide how
// much memory the reader commits: the header carries its own tag, so that a
// forged length is rejected before the reader makes room for its payload.
//
// Both tags are SipHash-2-4 keyed with a per-pool random key (libsodium's
// crypto_shorthash): a 64-bit one over the header fields, and a 128-bit one
// (siphashx24) over the whole frame. The 64-bit tag is enough for the header:
// a wrong guess kills the stream, so a forger gets one try per stream, and it
// is only a gate in front of the frame tag, which still covers every byte.
// The two are never confused: the 128-bit variant initializes its state
// differently, and the inputs differ in length (24 bytes against at least
// 32). FrameDecoder hands out a frame only after both tags matched, and once
// a stream is found corrupt it stays dead.
//
// Wire format (integers little endian):
//
//   "cfF2" | kind (1) | 3 zero bytes | id (8) | payload size (8) |
//   header tag (8) over the 24 bytes before it | payload |
//   tag (16) over everything before it
//
// The magic names the format's version: a re-executed worker may be another
// build (its build fingerprint is compared right after the hello), and one
// that frames differently is then named as such instead of being reported as
// a forgery.
#ifndef CF_EXECUTORS_TRANSPORT_FRAME_H_
#define CF_EXECUTORS_TRANSPORT_FRAME_H_

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
  kIdentity,  // parent to worker, before its first task: who it is
};

struct Frame {
  FrameKind kind;
  std::uint64_t id;
  std::string payload;

  friend bool operator==(const Frame&, const Frame&) = default;
};

// The header tag is the header's last kFrameHeaderTagSize bytes.
inline constexpr std::size_t kFrameHeaderTagSize = 8;
inline constexpr std::size_t kFrameHeaderSize = 24 + kFrameHeaderTagSize;
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
// A reader either asks for ReadSpace() (or WritableSpace()), read()s straight
// into it and Commit()s what it got, or Append()s bytes it already has; then
// it calls Next() until that returns std::nullopt.
//
// Memory follows the bytes received, never a declared size: a header is
// rejected unless its tag matches, and even an authentic header declaring
// max_payload bytes does not reserve them; the buffer grows geometrically as
// the payload actually arrives, and while a frame is received its capacity
// stays under 4 x (pending bytes + the room asked for) or 2 x
// kMinBufferSize, whichever is more. So a peer that sends a header and stops
// costs a small constant (about 128 KiB with ReadSpace()'s largest reads),
// and a large frame is copied about once more while it grows. A payload of
// at least kAdoptBufferSize bytes is handed out in the buffer itself instead
// of being copied. Not thread-safe: a stream has one reader.
class FrameDecoder {
 public:
  // Payloads this large or larger take over the decoder's buffer.
  static constexpr std::size_t kAdoptBufferSize = std::size_t{1} << 20;
  // The buffer's first allocation, and ReadSpace()'s first offer: most
  // frames are small, and one page holds one or several. Every page a buffer
  // zero-fills is a page fault, a copy-on-write one in a freshly forked
  // worker; on a virtual machine each costs about 15 us, so a 64 KiB buffer
  // filled up front was a large part of a worker's start-up.
  static constexpr std::size_t kMinBufferSize = 4 * 1024;
  // ReadSpace()'s largest offer, reached by doubling while reads fill all
  // the room they are given (a stream that carries bulk).
  static constexpr std::size_t kMaxReadSize = 64 * 1024;

  // Frames whose header declares more than `max_payload` bytes are rejected
  // from the header alone.
  FrameDecoder(FrameKey key, std::uint64_t max_payload);

  // At least `min` writable bytes at the end of the buffered data (more if
  // the buffer happens to have them); valid until the next call on this
  // decoder. Then Commit() the bytes actually written.
  absl::Span<char> WritableSpace(std::size_t min);
  // Room for the next read() from a stream: kMinBufferSize at first, twice
  // as much after each read that filled all of it, up to kMaxReadSize.
  absl::Span<char> ReadSpace();
  void Commit(std::size_t n);
  void Append(std::string_view bytes);

  // The next complete, authenticated frame; std::nullopt if more bytes are
  // needed. A kDataLoss error once the stream is corrupt (bad magic, bad
  // header tag, unknown kind, nonzero reserved bytes, payload over the limit,
  // bad tag), and the same error from every later call: nothing after a
  // corrupt frame can be trusted to start where a frame starts. A header is
  // judged as soon as its kFrameHeaderSize bytes are in.
  absl::StatusOr<std::optional<Frame>> Next();

  // Bytes received that are not yet part of a returned frame; nonzero at end
  // of stream means the stream was cut mid-frame.
  std::size_t pending_bytes() const { return end_ - begin_; }

  // Bytes the decoder has allocated for its buffer, to check that memory
  // follows what was received.
  std::size_t buffered_capacity() const { return buf_.capacity(); }

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
  // What ReadSpace() asks for next, and the room it last offered (0 once a
  // Commit() has been told how much of it was used).
  std::size_t read_size_ = kMinBufferSize;
  std::size_t offered_ = 0;
  // Of the frame at begin_, once its header has been validated; else 0.
  std::size_t frame_size_ = 0;
  // Stream offset of buf_[begin_], for error messages.
  std::uint64_t consumed_ = 0;
};

// Writes all of `bytes` to a blocking or non-blocking descriptor. A closed
// peer is an error Status, never a SIGPIPE: sockets get MSG_NOSIGNAL, other
// descriptors (pipes) have SIGPIPE blocked in this thread around the write.
absl::Status WriteAll(int fd, std::string_view bytes);

// Reads exactly `size` bytes from a blocking descriptor; false at end of
// stream or on an error.
bool ReadExactly(int fd, char* data, std::size_t size);

// Reads from `fd` until `decoder` has a frame. std::nullopt at end of stream
// on a frame boundary; kDataLoss if the stream ends mid-frame ("truncated
// frame: N bytes of a frame, then end of stream") or is corrupt.
absl::StatusOr<std::optional<Frame>> ReadFrame(int fd, FrameDecoder& decoder);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_FRAME_H_
