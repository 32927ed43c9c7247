#include "executors/internal/worker_channel.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cf::internal {
namespace {

// Answers coming faster than this make a streak (see Window).
constexpr absl::Duration kFastTask = absl::Microseconds(500);

}  // namespace

WorkerChannel::WorkerChannel(const LaunchedWorker& worker, const FrameKey& key,
                             std::uint64_t max_payload)
    : greeted(worker.greeted),
      pid_(worker.pid),
      fd_(worker.fd),
      pidfd_(worker.pidfd),
      decoder_(key, max_payload) {}

int WorkerChannel::TakePidfd() { return std::exchange(pidfd_, -1); }

void WorkerChannel::Send(RemoteTask task) {
  out_.push_back(task.frame);
  in_flight_.push_back(std::move(task));
  if (in_flight_.size() == 1) StartHead();
}

void WorkerChannel::StartHead() {
  // A re-executed worker runs nothing before it has answered the hello:
  // its first call's time starts then, not while the program starts.
  head_deadline_ = greeted ? Deadline::After(in_flight_.front().timeout)
                           : Deadline::Never();
  head_since_ = absl::Now();
}

void WorkerChannel::Greeted() {
  greeted = true;
  if (!in_flight_.empty()) StartHead();
}

void WorkerChannel::SendFrame(std::shared_ptr<const std::string> frame) {
  out_.push_back(std::move(frame));
}

void WorkerChannel::Flush() {
  constexpr std::size_t kMaxIov = 64;
  iovec iov[kMaxIov];
  while (!out_.empty()) {
    std::size_t count = 0;
    for (const auto& frame : out_) {
      if (count == kMaxIov) break;
      const std::size_t skip = count == 0 ? out_sent_ : 0;
      iov[count++] = {.iov_base = const_cast<char*>(frame->data()) + skip,
                      .iov_len = frame->size() - skip};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // full (poll for POLLOUT) or broken (it died)
    std::size_t sent = static_cast<std::size_t>(n);
    while (sent > 0) {
      const std::size_t left = out_.front()->size() - out_sent_;
      if (sent < left) {
        out_sent_ += sent;
        break;
      }
      sent -= left;
      out_.pop_front();
      out_sent_ = 0;
    }
  }
}

bool WorkerChannel::Read(absl::FunctionRef<bool(Frame&)> on_frame) {
  while (true) {
    absl::Span<char> space = decoder_.ReadSpace();
    const ssize_t n = read(fd_, space.data(), space.size());
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    decoder_.Commit(static_cast<std::size_t>(n));
    while (true) {
      absl::StatusOr<std::optional<Frame>> frame = decoder_.Next();
      if (!frame.ok()) {
        corrupt_ = absl::StrCat("sent a corrupt frame (",
                                frame.status().message(), ")");
        return false;
      }
      if (!frame->has_value()) break;
      if (!on_frame(**frame)) return false;
    }
  }
}

int WorkerChannel::Window(std::optional<int> max_tasks) const {
  std::int64_t window =
      std::min<std::int64_t>(kMaxPipeline, 1 + fast_streak_);
  if (max_tasks.has_value()) {
    // It exits after its last call: never send it more.
    window = std::min<std::int64_t>(window, *max_tasks - tasks_done);
  }
  return static_cast<int>(window);
}

RemoteTask WorkerChannel::PopAnswered(absl::Time now, absl::Duration* took) {
  RemoteTask task = std::move(in_flight_.front());
  in_flight_.pop_front();
  *took = now - head_since_;
  fast_streak_ = *took < kFastTask ? fast_streak_ + 1 : 0;
  head_since_ = now;
  if (!in_flight_.empty()) {
    head_deadline_ = Deadline::After(in_flight_.front().timeout);
  }
  return task;
}

}  // namespace cf::internal
