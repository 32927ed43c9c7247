#include "executors/mpi/mpi_worker.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/reexec.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"

namespace cf::internal {
namespace {

// Exit code of a worker that refused a call naming no entry point of this
// build, as a process-pool worker's (kWorkerExitRefusedCall).
constexpr int kExitRefusedCall = 6;
// Answers of a stream of calls that each ran under kTinyCall go back
// together, the first held back for at most kHoldAnswers.
constexpr absl::Duration kTinyCall = absl::Microseconds(20);
constexpr absl::Duration kHoldAnswers = absl::Microseconds(100);
// How long a worker keeps polling without sleeping after a call.
constexpr absl::Duration kSpinAfterCall = absl::Milliseconds(1);

// Runs beside the worker's loop, also while a task runs: tells the root
// that this process is still there (heartbeats), and ends the process when
// a root on this host has ended, so a worker never outlives its root by the
// length of a task.
class RootWatchThread {
 public:
  RootWatchThread(MPI_Comm inter, absl::Duration heartbeat, PeerWatch root)
      : inter_(inter), heartbeat_(heartbeat), root_(std::move(root)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RootWatchThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  void Run() {
    const absl::Duration tick =
        heartbeat_ > absl::ZeroDuration()
            ? std::min(heartbeat_, absl::Milliseconds(100))
            : absl::Milliseconds(100);
    absl::Time next_heartbeat = absl::Now() + heartbeat_;
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, absl::ToChronoNanoseconds(tick),
                         [this] { return stop_; })) {
      const absl::Time now = absl::Now();
      if (root_.local() && !root_.Check(now).empty()) {
        const std::string line =
            absl::StrCat("cf MPI worker ", getpid(),
                         ": the root ended; so does this worker\n");
        [[maybe_unused]] ssize_t n =
            write(STDERR_FILENO, line.data(), line.size());
        _exit(1);
      }
      if (heartbeat_ > absl::ZeroDuration() && now >= next_heartbeat) {
        // Never blocks: a root that is gone must not hold up the worker.
        MPI_Request request;
        if (MPI_Isend(nullptr, 0, MPI_BYTE, 0, kMPITagHeartbeat, inter_,
                      &request) == MPI_SUCCESS) {
          MPI_Request_free(&request);
        }
        next_heartbeat = now + heartbeat_;
      }
    }
  }

  MPI_Comm inter_;
  absl::Duration heartbeat_;  // zero: none
  PeerWatch root_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Runs one encoded call; `*answer` becomes its answer record: the kind,
// the id, how long the call ran (so the root can tell a slow call from a
// slow network), then the result or the exception. Returns the kind.
char RunTask(std::uint64_t id, std::string_view call, int rank,
             std::string* answer) {
  const absl::Time start = absl::Now();
  auto begin = [&](char kind) {
    answer->assign(1, kind);
    answer->append(WithId(id));
    answer->append(WithId(0));
  };
  auto stamp = [&] {
    const std::uint64_t ns = static_cast<std::uint64_t>(
        absl::ToInt64Nanoseconds(absl::Now() - start));
    std::memcpy(answer->data() + 1 + sizeof(id), &ns, sizeof(ns));
    return (*answer)[0];
  };
  begin(kAnswerResult);
  RemoteException failure;
  {
    ScopedThrowCapture capture;
    try {
      RunEncodedCall(call, answer);
      return stamp();
    } catch (const UnknownEntryError& e) {
      // The message cannot be trusted: say why and go, as a process-pool
      // worker does; the root sees this worker end.
      const std::string line = absl::StrCat(
          "cf MPI worker ", getpid(), ": refused a call: ", e.what(), "\n");
      [[maybe_unused]] ssize_t n =
          write(STDERR_FILENO, line.data(), line.size());
      _exit(kExitRefusedCall);
    } catch (...) {
      failure = CaptureCurrentException();
    }
  }
  failure.traceback = absl::StrCat("    on MPI rank ", rank, " of host ",
                                   ThisHost().name, "\n", failure.traceback);
  begin(kAnswerError);
  answer->append(EncodeValue(failure));
  return stamp();
}

// Runs a batch of tasks and sends their answers. A batch of more than two
// calls comes only while this worker's calls run fast (WorkerLoads'
// streak): its answers go back together while each call takes under
// kTinyCall, for at most kHoldAnswers, or the run of one call that turns out
// longer (a call's length is not known before it runs). Any other answer
// goes at once: the next call may run for any time, and an answer held back
// for it would keep a finished call's future waiting. False if the root is
// gone.
bool RunTasks(MPI_Comm inter, std::string_view batch, int rank,
              const PeerWatch& root) {
  std::size_t calls = 0;
  for (std::string_view rest = batch; NextRecord(rest);) ++calls;
  const bool streak = calls > 2;
  std::string answer, answers;
  absl::Time oldest;
  while (std::optional<std::string_view> record = NextRecord(batch)) {
    std::string_view call = *record;
    const std::uint64_t id = TakeId(call).value_or(0);
    const absl::Time start = absl::Now();
    RunTask(id, call, rank, &answer);
    const absl::Time now = absl::Now();
    if (answers.empty()) oldest = now;
    AppendRecord(answer, &answers);
    if (!streak || batch.empty() || now - start > kTinyCall ||
        now - oldest > kHoldAnswers) {
      if (!SendWatched(inter, 0, kMPITagAnswers, answers, root)) return false;
      answers.clear();
    }
  }
  return true;
}

// Waits for the root's hello; nullopt with `*outcome` set if none comes.
std::optional<RootHello> AwaitHello(MPI_Comm inter, const ServeOptions& options,
                                    SessionOutcome* outcome) {
  const absl::Time deadline = absl::Now() + options.hello_timeout;
  Backoff backoff(absl::Microseconds(100), absl::Microseconds(10),
                  absl::Milliseconds(2));
  while (true) {
    if (std::optional<MPIMessage> m = TryReceive(inter)) {
      if (m->tag == kMPITagExit) {
        outcome->end = SessionEnd::kExit;
        outcome->why = m->bytes;
        return std::nullopt;
      }
      if (m->tag == kMPITagHello) {
        try {
          return DecodeResult<RootHello>(m->bytes);
        } catch (const std::exception& e) {
          outcome->end = SessionEnd::kRootLost;
          outcome->why =
              absl::StrCat("the root's hello is not one: ", e.what());
          return std::nullopt;
        }
      }
      continue;  // a heartbeat that outlived the last session
    }
    const absl::Time now = absl::Now();
    std::string gone = options.root != nullptr ? options.root->Check(now) : "";
    if (now > deadline) gone = "sent no hello";
    if (!gone.empty()) {
      outcome->end = SessionEnd::kRootLost;
      outcome->why = "the root " + gone;
      return std::nullopt;
    }
    backoff.Wait();
  }
}

}  // namespace

SessionOutcome ServeSession(MPI_Comm inter, const ServeOptions& options) {
  SessionOutcome outcome;
  std::optional<RootHello> hello = AwaitHello(inter, options, &outcome);
  if (!hello) return outcome;
  const absl::Duration timeout =
      hello->heartbeat_timeout_us > 0
          ? absl::Microseconds(hello->heartbeat_timeout_us)
          : absl::InfiniteDuration();
  PeerWatch root(hello->pid, hello->host, timeout);
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  WorkerHello mine{.fingerprint = ProcessFingerprint(),
                   .pid = getpid(),
                   .host = ThisHost(),
                   .rank = options.rank,
                   .heartbeats = hello->heartbeat_interval_us > 0 &&
                                 level == MPI_THREAD_MULTIPLE};
  auto lost = [&](std::string why) {
    return SessionOutcome{.end = SessionEnd::kRootLost, .why = std::move(why)};
  };
  if (!SendWatched(inter, 0, kMPITagHello, EncodeValue(mine), root)) {
    return lost("the root ended during the hello");
  }
  // A worker of another build names itself in its hello; the root refuses
  // it, and so does it: no task runs here.
  bool refused = hello->fingerprint != mine.fingerprint;
  if (!refused) {
    SetProcessIdentity({.name = absl::StrCat("MPIPoolWorker-", options.rank),
                        .parent_pid = static_cast<pid_t>(hello->pid)});
  }
  if (!refused && !hello->initializer.empty()) {
    std::string answer;
    if (RunTask(0, hello->initializer, options.rank, &answer) !=
        kAnswerResult) {
      refused = true;
      std::string_view exception = answer;
      exception.remove_prefix(1 + 2 * sizeof(std::uint64_t));
      if (!SendWatched(inter, 0, kMPITagInitFailed, exception, root)) {
        return lost("the root ended during the initializer");
      }
    }
  }
  std::optional<RootWatchThread> watcher;
  if (level == MPI_THREAD_MULTIPLE) {
    watcher.emplace(
        inter,
        mine.heartbeats ? absl::Microseconds(hello->heartbeat_interval_us)
                        : absl::ZeroDuration(),
        PeerWatch(hello->pid, hello->host, absl::InfiniteDuration()));
  }
  // Spins for a while after each call, so that the next of a stream of
  // calls is taken at once; an idle worker then polls ever more slowly.
  Backoff backoff(kSpinAfterCall, absl::Microseconds(10),
                  absl::Milliseconds(1));
  absl::Time next_check = absl::Now();
  while (true) {
    std::optional<MPIMessage> m = TryReceive(inter);
    const absl::Time now = absl::Now();
    if (m) {
      root.Heard(now);
      backoff.Reset();
      if (m->tag == kMPITagTasks && !refused) {
        if (!RunTasks(inter, m->bytes, options.rank, root)) {
          return lost("the root ended before it took a result");
        }
        backoff.Reset();
      } else if (m->tag == kMPITagEnd) {
        watcher.reset();  // so that no heartbeat follows the bye
        if (!SendWatched(inter, 0, kMPITagBye, "", root)) {
          return lost("the root ended before the bye");
        }
        return outcome;
      } else if (m->tag == kMPITagExit) {
        return SessionOutcome{.end = SessionEnd::kExit, .why = m->bytes};
      }
      continue;
    }
    if (now >= next_check) {
      if (std::string gone = root.Check(now); !gone.empty()) {
        return lost("the root " + gone);
      }
      next_check = now + absl::Milliseconds(10);
    }
    backoff.Wait();
  }
}

void EndWorkerOutput(std::string_view who, const std::string& why) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  if (why.empty()) return;
  const std::string line =
      absl::StrCat("cf MPI worker ", std::string(who), ": ", why, "\n");
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
  _exit(1);
}

void ServeSpawnedWorker() {
  std::string why;
  try {
    EnsureMPI();
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent == MPI_COMM_NULL) {
      throw MPIError(absl::StrCat("started with ", kMPIWorkerFlag,
                                  " but not by MPI_Comm_spawn"));
    }
    MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const SessionOutcome outcome = ServeSession(parent, {.rank = rank});
    if (outcome.end == SessionEnd::kRootLost) {
      why = outcome.why;
    } else {
      MPI_Comm_free(&parent);  // as the root does: see RootSession::Close
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  EndWorkerOutput(absl::StrCat(getpid()), why);
  MPI_Finalize();
  _exit(0);
}

}  // namespace cf::internal
