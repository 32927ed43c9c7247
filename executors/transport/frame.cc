#include "executors/transport/frame.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace cf::internal {
namespace {

static_assert(FrameKey::kSize == crypto_shorthash_siphashx24_KEYBYTES);
static_assert(FrameKey::kSize == crypto_shorthash_siphash24_KEYBYTES);
static_assert(kFrameTagSize == crypto_shorthash_siphashx24_BYTES);
static_assert(kFrameHeaderTagSize == crypto_shorthash_siphash24_BYTES);

constexpr char kMagic[4] = {'c', 'f', 'F', '2'};
// The header's fields, which its tag covers.
constexpr std::size_t kHeaderFieldsSize =
    kFrameHeaderSize - kFrameHeaderTagSize;
constexpr std::uint8_t kMinKind = static_cast<std::uint8_t>(FrameKind::kHello);
constexpr std::uint8_t kMaxKind = static_cast<std::uint8_t>(FrameKind::kIdentity);

constexpr std::size_t kMinBuffer = FrameDecoder::kMinBufferSize;
// A drained buffer bigger than this was grown for one large frame; keeping it
// would pin that memory for the life of the stream.
constexpr std::size_t kMaxIdleBuffer = 2 * FrameDecoder::kAdoptBufferSize;

// Byte by byte so that the format does not depend on the host; compilers turn
// these into single moves on little-endian machines.
void StoreLE64(std::uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint64_t LoadLE64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void Tag(const FrameKey& key, const char* data, std::size_t size,
         unsigned char* tag) {
  crypto_shorthash_siphashx24(
      tag, reinterpret_cast<const unsigned char*>(data), size,
      reinterpret_cast<const unsigned char*>(key.bytes().data()));
}

// The tag over a header's fields, `header`'s first kHeaderFieldsSize bytes.
void HeaderTag(const FrameKey& key, const char* header, unsigned char* tag) {
  crypto_shorthash_siphash24(
      tag, reinterpret_cast<const unsigned char*>(header), kHeaderFieldsSize,
      reinterpret_cast<const unsigned char*>(key.bytes().data()));
}

// write() with SIGPIPE kept from killing the process, for descriptors send()
// cannot take. A SIGPIPE the write raises is consumed while still blocked,
// unless one was already pending, which then stays as it was.
ssize_t WriteWithoutSigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t old_mask;
  if (!was_pending) pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  const ssize_t n = write(fd, data, size);
  const int error = errno;
  if (!was_pending) {
    if (n < 0 && error == EPIPE) {
      const timespec no_wait = {0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 &&
             errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  errno = error;
  return n;
}

// Waits until `fd` is ready for `events`, for descriptors that are
// non-blocking.
absl::Status AwaitReady(int fd, short events, const char* what) {
  pollfd p = {fd, events, 0};
  while (poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, what);
  }
  return absl::OkStatus();
}

}  // namespace

FrameKey FrameKey::Random() {
  // sodium_init() is thread-safe and idempotent; the static only spares the
  // call on later keys.
  static const bool sodium_ready = sodium_init() >= 0;
  if (!sodium_ready) {
    std::fputs("cf: sodium_init() failed; no source of randomness\n", stderr);
    std::abort();
  }
  FrameKey key;
  randombytes_buf(key.key_.data(), key.key_.size());
  return key;
}

std::optional<FrameKey> FrameKey::FromBytes(std::string_view bytes) {
  if (bytes.size() != kSize) return std::nullopt;
  FrameKey key;
  std::memcpy(key.key_.data(), bytes.data(), kSize);
  return key;
}

void AppendFrame(const FrameKey& key, FrameKind kind, std::uint64_t id,
                 std::string_view payload, std::string* out) {
  char header[kFrameHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  header[4] = static_cast<char>(kind);
  StoreLE64(id, header + 8);
  StoreLE64(payload.size(), header + 16);
  HeaderTag(key, header,
            reinterpret_cast<unsigned char*>(header + kHeaderFieldsSize));

  const std::size_t start = out->size();
  out->reserve(start + kFrameOverhead + payload.size());
  out->append(header, kFrameHeaderSize);
  out->append(payload);
  unsigned char tag[kFrameTagSize];
  Tag(key, out->data() + start, kFrameHeaderSize + payload.size(), tag);
  out->append(reinterpret_cast<const char*>(tag), kFrameTagSize);
}

FrameDecoder::FrameDecoder(FrameKey key, std::uint64_t max_payload)
    : key_(key),
      // A bigger limit could not be allocated anyway, and this one keeps
      // frame sizes far from overflowing.
      max_payload_(static_cast<std::size_t>(std::min<std::uint64_t>(
          max_payload, std::numeric_limits<std::size_t>::max() / 4))) {}

absl::Span<char> FrameDecoder::WritableSpace(std::size_t min) {
  // Only `min`, never the rest of the frame being received: its declared size
  // is a promise, and memory is spent on bytes as they arrive.
  if (buf_.size() - end_ < min) MakeRoom(min);
  return absl::Span<char>(buf_.data() + end_, buf_.size() - end_);
}

absl::Span<char> FrameDecoder::ReadSpace() {
  absl::Span<char> space = WritableSpace(read_size_);
  offered_ = space.size();
  return space;
}

void FrameDecoder::Commit(std::size_t n) {
  // A read that took all the room offered likely left more behind.
  if (offered_ != 0 && n >= offered_) {
    read_size_ = std::min(2 * read_size_, kMaxReadSize);
  }
  offered_ = 0;
  end_ += std::min(n, buf_.size() - end_);
}

void FrameDecoder::Append(std::string_view bytes) {
  if (buf_.size() - end_ < bytes.size()) MakeRoom(bytes.size());
  std::memcpy(buf_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

void FrameDecoder::MakeRoom(std::size_t want) {
  const std::size_t pending = end_ - begin_;
  // Sliding the pending bytes down is enough, and pays for itself when it
  // frees at least half the buffer; it only happens once the tail is full,
  // never per frame.
  if (pending + want <= buf_.size() && pending <= buf_.size() / 2) {
    std::memmove(buf_.data(), buf_.data() + begin_, pending);
  } else {
    // Doubling the pending bytes keeps a large frame arriving in many reads
    // linear, while the buffer stays within a small multiple of what was
    // received: the declared size is never allocated ahead of the bytes.
    std::size_t size = std::max({pending + want, 2 * pending, kMinBuffer});
    if (frame_size_ > pending) {
      // Once the frame's authenticated header is in, the sizes are taken
      // from the ladder end, end/2, end/4, ... with `end` `want` bytes past
      // the frame: the last doubling lands exactly there, instead of one
      // more regrowth (and copy) of nearly the whole payload, and all the
      // buffers a large frame passes through add up to about twice its size.
      const std::size_t end = frame_size_ + want;
      if (size >= end) {
        size = end;
      } else {
        std::size_t rung = end;
        while (rung / 2 >= size) rung /= 2;
        size = rung;
      }
    }
    // Only the new room is zero-filled, not the copied bytes.
    std::string bigger;
    bigger.reserve(size);
    bigger.append(buf_, begin_, pending);
    bigger.resize(size);
    buf_.swap(bigger);
  }
  begin_ = 0;
  end_ = pending;
}

absl::Status FrameDecoder::Fail(std::string message) {
  error_ = absl::DataLossError(
      absl::StrCat(message, " (frame at byte ", consumed_, " of the stream)"));
  return error_;
}

absl::Status FrameDecoder::ParseHeader(const char* header) {
  // The magic first, so that bytes that are no frame at all (or a frame of
  // another format version) are named as such; then nothing else in the
  // header is looked at before its tag matched.
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return Fail(absl::StrCat(
        "bad magic \"",
        absl::CHexEscape(absl::string_view(header, sizeof(kMagic))),
        "\", expected \"", absl::string_view(kMagic, sizeof(kMagic)), "\""));
  }
  unsigned char tag[kFrameHeaderTagSize];
  HeaderTag(key_, header, tag);
  if (sodium_memcmp(tag, header + kHeaderFieldsSize, kFrameHeaderTagSize) !=
      0) {
    return Fail(
        "bad header tag: the header is corrupt, or not made with this "
        "stream's key; its declared size was not trusted");
  }
  const auto kind = static_cast<std::uint8_t>(header[4]);
  if (kind < kMinKind || kind > kMaxKind) {
    return Fail(absl::StrCat("unknown frame kind ", kind));
  }
  if (header[5] != 0 || header[6] != 0 || header[7] != 0) {
    return Fail("nonzero reserved bytes in frame header");
  }
  const std::uint64_t payload_size = LoadLE64(header + 16);
  if (payload_size > max_payload_) {
    return Fail(absl::StrCat("payload too large: the frame declares ",
                             payload_size, " bytes, the limit is ",
                             max_payload_));
  }
  frame_size_ = kFrameOverhead + static_cast<std::size_t>(payload_size);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  const std::size_t pending = end_ - begin_;
  if (frame_size_ == 0) {
    if (pending < kFrameHeaderSize) return std::nullopt;
    absl::Status header = ParseHeader(buf_.data() + begin_);
    if (!header.ok()) return header;
  }
  if (pending < frame_size_) return std::nullopt;

  const char* frame = buf_.data() + begin_;
  const std::size_t payload_size = frame_size_ - kFrameOverhead;
  unsigned char tag[kFrameTagSize];
  Tag(key_, frame, kFrameHeaderSize + payload_size, tag);
  if (sodium_memcmp(tag, frame + kFrameHeaderSize + payload_size,
                    kFrameTagSize) != 0) {
    return Fail(absl::StrCat("bad tag on a frame of ", payload_size,
                             " payload bytes: corrupt, or not made with this "
                             "stream's key"));
  }

  std::optional<Frame> out(std::in_place);
  out->kind = static_cast<FrameKind>(frame[4]);
  out->id = LoadLE64(frame + 8);
  const std::size_t frame_end = begin_ + frame_size_;
  const std::size_t after = end_ - frame_end;
  if (payload_size >= kAdoptBufferSize && after <= payload_size) {
    // Hand out the buffer itself: one memmove instead of a second buffer as
    // big as the payload. Copying what follows the frame costs at most the
    // payload's size, so a run of large frames stays linear.
    std::string rest(buf_.data() + frame_end, after);
    buf_.resize(frame_end - kFrameTagSize);
    buf_.erase(0, begin_ + kFrameHeaderSize);
    out->payload = std::move(buf_);
    buf_ = std::move(rest);
    begin_ = 0;
    end_ = after;
  } else {
    out->payload.assign(frame + kFrameHeaderSize, payload_size);
    begin_ = frame_end;
  }
  consumed_ += frame_size_;
  frame_size_ = 0;
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buf_.size() > kMaxIdleBuffer) std::string().swap(buf_);
  }
  return out;
}

bool ReadExactly(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      return false;
    }
  }
  return true;
}

absl::Status WriteAll(int fd, std::string_view bytes) {
  // Until send() says otherwise; a pipe pays one failed send() per call.
  bool socket = true;
  while (!bytes.empty()) {
    const ssize_t n = socket
                          ? send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL)
                          : WriteWithoutSigpipe(fd, bytes.data(), bytes.size());
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == ENOTSOCK && socket) {
      socket = false;
      continue;
    }
    if (error == EAGAIN || error == EWOULDBLOCK) {
      absl::Status ready = AwaitReady(fd, POLLOUT, "poll for writing");
      if (!ready.ok()) return ready;
      continue;
    }
    if (error == EPIPE || error == ECONNRESET) {
      return absl::UnavailableError(absl::StrCat(
          "write: the peer closed the connection (", std::strerror(error),
          "), ", bytes.size(), " bytes unsent"));
    }
    return absl::ErrnoToStatus(error, "write");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Frame>> ReadFrame(int fd, FrameDecoder& decoder) {
  while (true) {
    absl::StatusOr<std::optional<Frame>> frame = decoder.Next();
    if (!frame.ok() || frame->has_value()) return frame;
    absl::Span<char> space = decoder.ReadSpace();
    const ssize_t n = read(fd, space.data(), space.size());
    if (n > 0) {
      decoder.Commit(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      if (decoder.pending_bytes() == 0) return std::nullopt;
      return absl::DataLossError(
          absl::StrCat("truncated frame: ", decoder.pending_bytes(),
                       " bytes of a frame, then end of stream"));
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      absl::Status ready = AwaitReady(fd, POLLIN, "poll for reading");
      if (!ready.ok()) return ready;
      continue;
    }
    return absl::ErrnoToStatus(error, "read");
  }
}

}  // namespace cf::internal
