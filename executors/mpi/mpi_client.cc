#include "executors/mpi/mpi_client.h"

#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/internal/pool_support.h"
#include "executors/mpi/mpi_executor.h"
#include "executors/mpi/mpi_launch.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"
#include "futures/errors.h"

namespace cf::internal {
namespace {

using Kind = MPISessionConfig::Kind;

// While calls run under kFastCall, whoever polls (the manager, or a thread
// waiting on a future) goes on without sleeping for about two round trips
// (at least kMinSpin, at most kMaxSpin) after each event: MPI cannot wake a
// sleeping thread, and a sleep would cost more than the call.
constexpr absl::Duration kMinSpin = absl::Microseconds(200);
constexpr absl::Duration kMaxSpin = absl::Milliseconds(1);
constexpr absl::Duration kFastCall = absl::Microseconds(300);
// Sleeps between polls: growing from the first to the max while calls are
// in flight; the idle period otherwise (heartbeats and checks come due).
constexpr absl::Duration kFirstSleep = absl::Microseconds(20);
constexpr absl::Duration kMaxSleep = absl::Microseconds(500);
constexpr absl::Duration kIdleSleep = absl::Milliseconds(10);

std::string DescribeRemote(std::string_view bytes) {
  try {
    RemoteException e = DecodeResult<RemoteException>(bytes);
    return absl::StrCat(e.type_name, e.message.empty() ? "" : ": ", e.message);
  } catch (...) {
    return "an exception that could not be decoded";
  }
}

}  // namespace

MPIClient::MPIClient(MPISessionConfig config)
    : config_(std::move(config)),
      driver_(std::make_shared<MPIDriver>(
          static_cast<MPIDriver::Session*>(this))) {
  if (config_.kind == Kind::kLaunch) {
    broken_ = LaunchWorkers::Acquire();  // throws while another holds them
    launch_claimed_ = true;
  }
  // Workers that exist already count from the start (mpi4py's num_workers).
  if (config_.kind == Kind::kLocal) num_workers_ = 1;
  if (config_.inter != MPI_COMM_NULL) {
    MPI_Comm_remote_size(config_.inter, &num_workers_);
  }
}

MPIClient::~MPIClient() {
  Shutdown(/*wait=*/true, /*cancel_futures=*/false);
  driver_->Detach();
  if (launch_claimed_) LaunchWorkers::Release(broken_);
}

void MPIClient::ThrowIfClosedLocked() const {
  if (!broken_.empty()) throw BrokenMPIPool(broken_);
  if (shutdown_) {
    throw std::runtime_error("cannot schedule new futures after shutdown");
  }
}

void MPIClient::StartManagerLocked() {
  if (!manager_.joinable()) manager_ = std::thread([this] { Run(); });
}

void MPIClient::Submit(std::shared_ptr<WorkItem> call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ThrowIfClosedLocked();
  }
  const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  std::string message = WithId(id);
  try {
    call->EncodeRemote(&message);
  } catch (const NotRemotable&) {
    throw;
  } catch (...) {
    // Serialization failed here, before anything was sent: this call only.
    call->future().SetException(std::current_exception());
    return;
  }
  if (config_.kind != Kind::kLocal) {
    // The waiter polls as long as the manager would (see Idle): decided by
    // how long calls run on the workers, not by how long the last answer
    // took to be seen, which a late poll stretches.
    if (recent_run_us_.load(std::memory_order_relaxed) <
        absl::ToInt64Microseconds(kFastCall)) {
      call->future().SetSpinHint(absl::ToChronoMicroseconds(SpinAfterEvent()));
    }
    call->future().SetPoller(driver_);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ThrowIfClosedLocked();
    StartManagerLocked();
    queue_.push_back({id, std::move(call), std::move(message)});
    queued_.fetch_add(1, std::memory_order_release);
  }
  // A call to an idle pool leaves from this thread, not waiting for the
  // manager to wake up; on a busy one, the manager or a waiting thread sends
  // what is queued in batches.
  if (config_.kind != Kind::kLocal) {
    driver_->TryDrive([this] {
      if (loads_.held() > 0) return;
      try {
        Dispatch();
      } catch (const std::exception& e) {  // an MPI call failed
        Break(absl::StrCat(config_.executor, ": ", e.what()));
      }
    });
  }
  if (queued_.load(std::memory_order_acquire) > 0) WakeManager();
}

void MPIClient::HandOverLocked(bool awaited_done) {
  // The manager stood back while a thread polled: it takes over when that
  // thread goes to sleep, or when a call is left to send (queued by a
  // done-callback the poll ran).
  if (!awaited_done || queued_.load(std::memory_order_acquire) > 0) {
    WakeManager();
  }
}

void MPIClient::WakeManager() {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake = std::exchange(manager_asleep_, false);
  }
  if (wake) cv_.notify_all();
}

void MPIClient::Shutdown(bool wait, bool cancel_futures) {
  std::deque<Queued> cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    // Calls already sent run to the end, as in Python.
    if (cancel_futures) {
      cancelled.swap(queue_);
      queued_.store(0, std::memory_order_release);
    }
    manager_asleep_ = false;
  }
  cv_.notify_all();
  for (Queued& q : cancelled) CancelQueued(*q.call);
  if (!wait) return;
  std::lock_guard<std::mutex> join_lock(join_mu_);
  // A done-callback the manager runs may shut the pool down: it cannot
  // wait for itself, and the manager ends on its own.
  if (manager_.joinable() && manager_.get_id() != std::this_thread::get_id()) {
    manager_.join();
  }
}

void MPIClient::Bootup() {
  std::unique_lock<std::mutex> lock(mu_);
  ThrowIfClosedLocked();
  StartManagerLocked();
  cv_.wait(lock, [this] { return opened_ || !broken_.empty(); });
  if (!broken_.empty()) throw BrokenMPIPool(broken_);
}

void MPIClient::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_.empty() && !shutdown_) StartManagerLocked();
}

int MPIClient::num_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_workers_;
}

void MPIClient::Run() {
  prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 µs: the polls' short sleeps
  last_event_ = absl::Now();
  sleep_ = kFirstSleep;
  driver_->Drive([this] { Open(); });
  while (true) {
    Round round;
    auto manage = [&] { round = ManageLocked(); };
    // While a waiting thread polls, the manager's round (heartbeats, freeing
    // sends, checking the workers) waits for a moment the session is free:
    // blocking on the lock would make each of the waiter's steps wake it.
    if (driver_->polling()) {
      driver_->TryDrive(manage);
    } else {
      driver_->Drive(manage);
    }
    if (round.finished) break;
    Idle(round);
  }
  std::string broken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    broken = broken_;
  }
  driver_->Drive([&] {
    try {
      session_.Close(/*clean=*/broken.empty());
    } catch (const std::exception&) {
      // The pool is done either way; MPI already said what went wrong.
    }
  });
}

MPIClient::Round MPIClient::ManageLocked() {
  Round round;
  if (FinishedLocked()) {
    round.finished = true;
    return round;
  }
  try {
    if (config_.kind == Kind::kLocal) {
      round.active = RunLocally();
    } else {
      round.active = Dispatch();
      round.active = Collect() || round.active;
      if (std::string why = session_.Tend(absl::Now()); !why.empty()) {
        Break(why);
      }
    }
  } catch (const std::exception& e) {  // an MPI call failed
    Break(absl::StrCat(config_.executor, ": ", e.what()));
  }
  round.held = loads_.held();
  round.room = queued_.load(std::memory_order_acquire) > 0 &&
               loads_.Room(absl::Now()) > 0;
  round.recent_run = recent_run_;
  return round;
}

void MPIClient::PollLocked() {
  if (!session_.open() ||
      (loads_.held() == 0 && queued_.load(std::memory_order_acquire) == 0)) {
    return;
  }
  try {
    Dispatch();
    // Answers make room: refill it before the waiter goes back to its
    // results, so the workers do not idle meanwhile.
    if (Collect()) Dispatch();
  } catch (const std::exception& e) {  // an MPI call failed
    Break(absl::StrCat(config_.executor, ": ", e.what()));
  }
}

void MPIClient::Open() {
  std::string why;
  if (config_.kind != Kind::kLocal) {
    try {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!broken_.empty()) return;  // a launch found broken earlier
      }
      session_.Open(config_);
    } catch (const std::exception& e) {
      why = absl::StrCat(config_.executor, ": ", e.what());
    }
  } else if (!config_.initializer.empty()) {
    std::string ignored;
    try {
      RunEncodedCall(config_.initializer, &ignored);
    } catch (...) {
      why = absl::StrCat(config_.executor, ": the initializer failed: ",
                         DescribeException(std::current_exception()));
    }
  }
  if (!why.empty()) return Break(why);
  const int n = config_.kind == Kind::kLocal ? 1 : session_.size();
  loads_ = WorkerLoads(n);
  {
    std::lock_guard<std::mutex> lock(mu_);
    opened_ = true;
    num_workers_ = n;
  }
  cv_.notify_all();
}

bool MPIClient::FinishedLocked() {
  std::lock_guard<std::mutex> lock(mu_);
  return !broken_.empty() ||
         (shutdown_ && queue_.empty() && loads_.held() == 0);
}

bool MPIClient::Dispatch() {
  if (queued_.load(std::memory_order_acquire) == 0) return false;
  const absl::Time now = absl::Now();
  const std::size_t room = loads_.Room(now);
  if (room == 0) return false;
  std::vector<Queued> taken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (taken.size() < room && !queue_.empty()) {
      taken.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_.fetch_sub(taken.size(), std::memory_order_release);
  }
  std::vector<std::string> batches(static_cast<std::size_t>(session_.size()));
  for (Queued& q : taken) {
    if (!q.call->future().SetRunningOrNotifyCancel()) {
      q.call->Drop();  // cancelled while queued
      continue;
    }
    const int worker = loads_.Pick(now);  // `room` says there is one
    AppendRecord(q.message, &batches[static_cast<std::size_t>(worker)]);
    loads_.Hold(worker, {q.id, std::move(q.call)}, now);
  }
  bool sent = false;
  for (std::size_t w = 0; w < batches.size(); ++w) {
    if (batches[w].empty()) continue;
    session_.Send(static_cast<int>(w), kMPITagTasks, std::move(batches[w]));
    sent = true;
  }
  return sent || !taken.empty();
}

bool MPIClient::Collect() {
  bool got = false;
  for (int i = 0; i < 64; ++i) {
    std::optional<MPIMessage> m = session_.Receive();
    if (!m) break;
    got = true;
    if (m->tag == kMPITagAnswers) {
      std::string_view batch = m->bytes;
      while (std::optional<std::string_view> record = NextRecord(batch)) {
        if (!Answer(m->source, *record)) break;
      }
    } else if (m->tag == kMPITagInitFailed) {
      Break(absl::StrCat(
          config_.executor, ": the initializer failed on worker ",
          session_.Describe(m->source), ": ", DescribeRemote(m->bytes)));
      break;
    }
  }
  return got;
}

bool MPIClient::Answer(int worker, std::string_view bytes) {
  const char kind = bytes.empty() ? '\0' : bytes[0];
  bytes.remove_prefix(bytes.empty() ? 0 : 1);
  const std::optional<std::uint64_t> id = TakeId(bytes);
  const std::optional<std::uint64_t> run_ns = TakeId(bytes);
  const absl::Duration run =
      absl::Nanoseconds(static_cast<std::int64_t>(run_ns.value_or(0)));
  absl::Duration took;
  std::optional<WorkerLoads::Call> task;
  if (run_ns && (kind == kAnswerResult || kind == kAnswerError)) {
    task = loads_.Answered(worker, *id, run, absl::Now(), &took);
  }
  if (!task) {
    Break(absl::StrCat(config_.executor, ": worker ", session_.Describe(worker),
                       " answered a call it was not running"));
    return false;
  }
  recent_run_ = run;
  recent_run_us_.store(absl::ToInt64Microseconds(run),
                       std::memory_order_relaxed);
  recent_answer_us_.store(absl::ToInt64Microseconds(took),
                          std::memory_order_relaxed);
  try {
    if (kind == kAnswerResult) {
      task->call->SetRemoteResult(bytes);
    } else {
      task->call->future().SetException(
          RebuildException(DecodeResult<RemoteException>(bytes)));
    }
  } catch (const InvalidStateError&) {
    // Set by hand meanwhile; the executor's outcome loses, as in Python.
  } catch (...) {
    FailCall(*task->call, std::current_exception());  // did not deserialize
  }
  return true;
}

bool MPIClient::RunLocally() {
  Queued q;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return false;
    q = std::move(queue_.front());
    queue_.pop_front();
    queued_.fetch_sub(1, std::memory_order_release);
  }
  if (!q.call->future().SetRunningOrNotifyCancel()) {
    q.call->Drop();
    return true;
  }
  // As a worker would: from the encoded call, so that what runs with one
  // rank is exactly what runs with many.
  std::string_view call = q.message;
  TakeId(call);
  std::string result;
  try {
    RunEncodedCall(call, &result);
    q.call->SetRemoteResult(result);
  } catch (const InvalidStateError&) {
  } catch (...) {
    FailCall(*q.call, std::current_exception());
  }
  return true;
}

void MPIClient::Break(const std::string& why) {
  std::deque<Queued> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.empty()) return;
    broken_ = why;
    queued.swap(queue_);
    queued_.store(0, std::memory_order_release);
  }
  cv_.notify_all();
  const std::exception_ptr error = std::make_exception_ptr(BrokenMPIPool(why));
  for (Queued& q : queued) FailCall(*q.call, error);
  for (WorkerLoads::Call& task : loads_.TakeAll()) {
    FailCall(*task.call, error);
  }
}

absl::Duration MPIClient::SpinAfterEvent() const {
  return std::clamp(
      2 * absl::Microseconds(recent_answer_us_.load(std::memory_order_relaxed)),
      kMinSpin, kMaxSpin);
}

void MPIClient::Idle(const Round& round) {
  const absl::Time now = absl::Now();
  if (round.active) {
    last_event_ = now;
    sleep_ = kFirstSleep;
  }
  // A thread waiting on a future polls for its answer: a second poller
  // here would only take CPU from it (and from the worker, on two cores).
  if (driver_->polling()) {
    std::unique_lock<std::mutex> lock(mu_);
    manager_asleep_ = true;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(kMaxSleep),
                 [this] { return !manager_asleep_; });
    manager_asleep_ = false;
    return;
  }
  if (round.active) return;
  if (round.recent_run < kFastCall) {
    if (now - last_event_ < SpinAfterEvent()) {
      sched_yield();
      return;
    }
  }
  absl::Duration nap = kIdleSleep;
  if (round.held > 0) {
    nap = sleep_;
    sleep_ = std::min(sleep_ * 2, kMaxSleep);
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (round.room || !broken_.empty() ||
      (shutdown_ && queue_.empty() && round.held == 0)) {
    return;
  }
  manager_asleep_ = true;
  cv_.wait_for(lock, absl::ToChronoNanoseconds(nap),
               [this] { return !manager_asleep_; });
  manager_asleep_ = false;
}

}  // namespace cf::internal
