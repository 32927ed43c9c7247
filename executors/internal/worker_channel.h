// One worker process as a process pool's manager sees it: the calls sent to
// it, in the order it runs them; the frames not yet written to its socket;
// the frames read back; and what the pool knows about it.
//
// The one thing to know: a call stays in `in_flight` with its encoded frame
// until answered, so when the worker dies or times out the calls queued
// behind the one it was running can be sent, whole, to another worker.
//
//   internal::WorkerChannel w(launcher.Launch(), key, max_payload);
//   w.Send(task);                 // queued; Flush() writes what fits
//   w.Read([&](Frame& f) { ...; return true; });   // false: it closed
#ifndef CF_EXECUTORS_INTERNAL_WORKER_CHANNEL_H_
#define CF_EXECUTORS_INTERNAL_WORKER_CHANNEL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "executors/internal/work_item.h"
#include "executors/internal/worker_launcher.h"
#include "executors/transport/frame.h"
#include "futures/internal/deadline.h"

namespace cf::internal {

// A worker in a streak of fast answers gets up to this many calls at once.
inline constexpr int kMaxPipeline = 32;

// A submitted call on its way through a process pool.
struct RemoteTask {
  std::uint64_t id = 0;
  std::shared_ptr<WorkItem> call;
  // Kept until the call is answered: a call handed back after its worker
  // died goes to another worker as it is.
  std::shared_ptr<const std::string> frame;
  bool running = false;  // its future is RUNNING (the pool counts these)
  absl::Duration timeout = absl::InfiniteDuration();  // from when it starts
};

class WorkerChannel {
 public:
  WorkerChannel(const LaunchedWorker& worker, const FrameKey& key,
                std::uint64_t max_payload);
  WorkerChannel(const WorkerChannel&) = delete;
  WorkerChannel& operator=(const WorkerChannel&) = delete;

  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }
  int pidfd() const { return pidfd_; }
  // Hands the pidfd to whoever reaps the worker.
  int TakePidfd();

  // Queues `task` (which must carry its frame) to run after those in
  // flight; starts its deadline if it is the first.
  void Send(RemoteTask task);
  // Queues a frame that answers nothing (identity, shutdown).
  void SendFrame(std::shared_ptr<const std::string> frame);
  bool HasOutput() const { return !out_.empty(); }
  // Writes queued frames, as many per system call as the socket takes,
  // until it would block or fails (the read side then sees the end).
  void Flush();

  // Reads what the worker sent and passes each authenticated frame to
  // `on_frame`, which returns false to stop reading (the worker was
  // killed). False once the stream ended or is corrupt (corrupt() says
  // why) or on_frame stopped; true when no more bytes are waiting.
  bool Read(absl::FunctionRef<bool(Frame&)> on_frame);
  const std::string& corrupt() const { return corrupt_; }
  // The pool found the stream untrustworthy (it is then killed).
  void MarkCorrupt(std::string why) { corrupt_ = std::move(why); }

  // Calls sent before the worker answers the first: one, as Python, unless
  // the worker is in a streak of fast answers; then up to a pipeline of 32,
  // so that it never waits for us between tiny calls. A worker that goes
  // idle starts again from one, so calls that may block are not queued
  // behind each other, and stay cancellable, as in Python. Never more than
  // `max_tasks` (max_tasks_per_child) allows.
  int Window(std::optional<int> max_tasks) const;
  // The head call was answered at `now`: pops it, updates the streak and
  // the next call's deadline. Returns the call and how long it took.
  RemoteTask PopAnswered(absl::Time now, absl::Duration* took);
  // Idle with nothing queued: the next call may be a long one.
  void ResetStreak() { fast_streak_ = 0; }
  // A re-executed worker answered the hello (and is the same build).
  void Greeted();

  std::deque<RemoteTask>& in_flight() { return in_flight_; }
  const std::deque<RemoteTask>& in_flight() const { return in_flight_; }
  const Deadline& head_deadline() const { return head_deadline_; }

  // What the pool learns about the worker along the way.
  bool stopping = false;   // told to shut down: its exit is expected
  bool greeted = true;     // a re-executed worker answers our hello first
  std::string init_error;  // the initializer's exception, if it failed
  std::string mismatch;    // why its build is not ours, if it is not
  std::int64_t tasks_done = 0;

 private:
  const pid_t pid_;
  const int fd_;
  int pidfd_;
  FrameDecoder decoder_;
  std::deque<std::shared_ptr<const std::string>> out_;  // not yet written
  std::size_t out_sent_ = 0;                            // of out_.front()
  std::deque<RemoteTask> in_flight_;  // sent, in the order it runs them
  Deadline head_deadline_ = Deadline::Never();
  // The head call's time starts (its deadline, once the worker can run it).
  void StartHead();

  std::string corrupt_;
  // Pipelining: answers in a row that each came within kFastTask of the
  // previous one, and when the last one came.
  int fast_streak_ = 0;
  absl::Time head_since_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_WORKER_CHANNEL_H_
