#include "executors/mpi/mpi_session.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/transport/build_fingerprint.h"
#include "executors/transport/reexec.h"
#include "executors/transport/remote_call.h"

namespace cf::internal {
namespace {

// How long spawned workers may take to start and answer the hello.
constexpr absl::Duration kHelloTimeout = absl::Seconds(60);
// How long a close waits for every worker's goodbye: a clean one, and one
// of a broken pool (whose workers may be stuck in a task).
constexpr absl::Duration kByeTimeout = absl::Seconds(30);
constexpr absl::Duration kBrokenByeTimeout = absl::Seconds(2);
// How long closing a spawned session waits for its workers to exit.
constexpr absl::Duration kSpawnedExitTimeout = absl::Seconds(2);
constexpr absl::Duration kCheckEvery = absl::Milliseconds(10);

std::string ThisProgram() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(path, static_cast<std::size_t>(n));
}

// Buffers of sends abandoned when a pool broke: MPI may still read them, so
// they are never freed (a broken pool leaks its last messages, no more).
void Abandon(std::vector<std::unique_ptr<std::string>>& buffers) {
  static auto* graveyard = new std::vector<std::unique_ptr<std::string>>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  for (auto& b : buffers) graveyard->push_back(std::move(b));
  buffers.clear();
}

}  // namespace

RootSession::~RootSession() {
  if (open()) Close(/*clean=*/false);
}

void RootSession::Open(const MPISessionConfig& config) {
  kind_ = config.kind;
  executor_ = config.executor;
  if (config.heartbeat_timeout != absl::InfiniteDuration()) {
    heartbeat_interval_ = std::clamp(config.heartbeat_timeout / 4,
                                     absl::Milliseconds(5), absl::Seconds(1));
  }
  if (kind_ == MPISessionConfig::Kind::kSpawn) {
    Spawn(config);
  } else {
    inter_ = config.inter;
  }
  Greet(config);
}

void RootSession::Spawn(const MPISessionConfig& config) {
  EnsureMPI();
  CheckMPI(MPI_Comm_dup(MPI_COMM_SELF, &self_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(self_, MPI_ERRORS_RETURN);
  const std::string program =
      config.program.empty() ? ThisProgram() : config.program;
  std::vector<std::string> args = {kMPIWorkerFlag};
  args.insert(args.end(), config.args.begin(), config.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  MPI_Info info = MPI_INFO_NULL;
  if (!config.info.empty()) {
    MPI_Info_create(&info);
    for (const auto& [key, value] : config.info) {
      MPI_Info_set(info, key.c_str(), value.c_str());
    }
  }
  std::vector<int> errors(static_cast<std::size_t>(config.max_workers),
                          MPI_SUCCESS);
  MPI_Comm inter = MPI_COMM_NULL;
  const int code =
      MPI_Comm_spawn(program.c_str(), argv.data(), config.max_workers, info, 0,
                     self_, &inter, errors.data());
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  if (code == MPI_SUCCESS) {
    inter_ = inter;
    MPI_Comm_set_errhandler(inter_, MPI_ERRORS_RETURN);
  }
  for (int e : errors) {
    if (code == MPI_SUCCESS && e != MPI_SUCCESS) {
      throw std::runtime_error(absl::StrCat(
          "MPI_Comm_spawn started only some of the ", config.max_workers,
          " workers of ", program, ": ", MPIErrorText(e)));
    }
  }
  if (code != MPI_SUCCESS) {
    throw std::runtime_error(absl::StrCat("could not spawn ",
                                          config.max_workers, " workers of ",
                                          program, ": ", MPIErrorText(code)));
  }
}

void RootSession::Greet(const MPISessionConfig& config) {
  int n = 0;
  CheckMPI(MPI_Comm_remote_size(inter_, &n), "MPI_Comm_remote_size");
  workers_.resize(static_cast<std::size_t>(n));
  const RootHello hello{
      .fingerprint = ProcessFingerprint(),
      .initializer = config.initializer,
      .heartbeat_interval_us = absl::ToInt64Microseconds(heartbeat_interval_),
      .heartbeat_timeout_us =
          config.heartbeat_timeout == absl::InfiniteDuration()
              ? 0
              : absl::ToInt64Microseconds(config.heartbeat_timeout),
      .pid = getpid(),
      .host = ThisHost()};
  const std::string bytes = EncodeValue(hello);
  for (int r = 0; r < n; ++r) Send(r, kMPITagHello, bytes);
  const absl::Time deadline = absl::Now() + kHelloTimeout;
  Backoff backoff(absl::Microseconds(50), absl::Microseconds(10),
                  absl::Milliseconds(1));
  int greeted = 0;
  while (greeted < n) {
    std::optional<MPIMessage> m = TryReceive(inter_);
    if (!m) {
      if (absl::Now() > deadline) {
        throw std::runtime_error(absl::StrCat(
            n - greeted, " of ", n, " workers did not answer within ",
            absl::FormatDuration(kHelloTimeout)));
      }
      backoff.Wait();
      continue;
    }
    backoff.Reset();
    if (m->tag != kMPITagHello) {
      early_.push_back(std::move(*m));  // after that worker's hello
      continue;
    }
    Worker& w = workers_.at(static_cast<std::size_t>(m->source));
    w.hello = DecodeResult<WorkerHello>(m->bytes);
    w.watch = PeerWatch(w.hello.pid, w.hello.host,
                        w.hello.heartbeats ? config.heartbeat_timeout
                                           : absl::InfiniteDuration());
    ++greeted;
    if (w.hello.fingerprint != hello.fingerprint) {
      throw std::runtime_error(
          BuildMismatchMessage(absl::StrCat("MPI worker ", Describe(m->source)),
                               hello.fingerprint, w.hello.fingerprint));
    }
  }
  next_heartbeat_ = absl::Now() + heartbeat_interval_;
  next_check_ = absl::Now();
}

std::string RootSession::Describe(int worker) const {
  const WorkerHello& h = workers_.at(static_cast<std::size_t>(worker)).hello;
  if (h.pid == 0) return absl::StrCat("rank ", worker);
  return absl::StrCat("rank ", h.rank, " (pid ", h.pid, " on host ",
                      h.host.name, ")");
}

void RootSession::Send(int worker, int tag, std::string bytes) {
  auto buffer = std::make_unique<std::string>(std::move(bytes));
  MPI_Request request;
  CheckMPI(MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_BYTE,
                     worker, tag, inter_, &request),
           "MPI_Isend");
  requests_.push_back(request);
  buffers_.push_back(std::move(buffer));
}

std::optional<MPIMessage> RootSession::Receive() {
  std::optional<MPIMessage> m;
  if (!early_.empty()) {
    m = std::move(early_.front());
    early_.pop_front();
  } else {
    m = TryReceive(inter_);
  }
  if (m && m->source >= 0 && m->source < size()) {
    Worker& w = workers_[static_cast<std::size_t>(m->source)];
    w.watch.Heard(absl::Now());
    if (m->tag == kMPITagBye) w.bye = true;
  }
  return m;
}

std::string RootSession::Tend(absl::Time now) {
  if (!requests_.empty()) {
    std::vector<int> done(requests_.size());
    int count = 0;
    CheckMPI(MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(),
                          &count, done.data(), MPI_STATUSES_IGNORE),
             "MPI_Testsome");
    if (count > 0 && count != MPI_UNDEFINED) {
      // Highest index first, so each swap-remove keeps the rest in place.
      std::sort(done.begin(), done.begin() + count, std::greater<int>());
      for (int i = 0; i < count; ++i) {
        const std::size_t k = static_cast<std::size_t>(done[i]);
        requests_[k] = requests_.back();
        requests_.pop_back();
        buffers_[k] = std::move(buffers_.back());
        buffers_.pop_back();
      }
    }
  }
  if (heartbeat_interval_ > absl::ZeroDuration() && now >= next_heartbeat_) {
    for (int r = 0; r < size(); ++r) Send(r, kMPITagHeartbeat, "");
    next_heartbeat_ = now + heartbeat_interval_;
  }
  if (now < next_check_) return "";
  next_check_ = now + kCheckEvery;
  return CheckWorkers(now);
}

std::string RootSession::CheckWorkers(absl::Time now) {
  for (int r = 0; r < size(); ++r) {
    const Worker& w = workers_[static_cast<std::size_t>(r)];
    if (w.bye) continue;
    if (std::string why = w.watch.Check(now); !why.empty()) {
      return absl::StrCat(executor_, ": worker ", Describe(r), " ", why,
                          " while the pool was in use; the pool is not usable "
                          "anymore");
    }
  }
  return "";
}

void RootSession::Close(bool clean) {
  if (!open()) return;
  heartbeat_interval_ = absl::ZeroDuration();  // nothing may follow the end
  for (int r = 0; r < size(); ++r) Send(r, kMPITagEnd, "");
  // Every worker still there answers the end with a goodbye, its last
  // message; only then is nothing left in flight for the communicator. (A
  // message arriving for a freed communicator makes Open MPI 4.1 crash
  // when a later one gets the same id.) A worker that is gone, or stays
  // silent past the deadline, is not waited for.
  const absl::Time deadline =
      absl::Now() + (clean ? kByeTimeout : kBrokenByeTimeout);
  Backoff backoff(absl::Microseconds(50), absl::Microseconds(10),
                  absl::Milliseconds(1));
  while (true) {
    if (Receive()) {
      backoff.Reset();
      continue;
    }
    const absl::Time now = absl::Now();
    const bool waiting = std::any_of(
        workers_.begin(), workers_.end(),
        [&](const Worker& w) { return !w.bye && w.watch.Check(now).empty(); });
    if (!waiting || now > deadline) break;
    Tend(now);
    backoff.Wait();
  }
  const absl::Time sends_deadline = absl::Now() + absl::Seconds(5);
  while (clean && !requests_.empty() && absl::Now() < sends_deadline) {
    Tend(absl::Now());
    backoff.Wait();
  }
  for (MPI_Request& r : requests_) MPI_Request_free(&r);
  requests_.clear();
  Abandon(buffers_);  // empty unless sends were left behind
  // Freed, not disconnected, on both sides: MPI_Comm_disconnect waits for
  // the other side, which a broken pool's workers may never reach, and Open
  // MPI 4.1 lets spawned workers finalize without it.
  if (kind_ == MPISessionConfig::Kind::kSpawn) {
    MPI_Comm_free(&inter_);
    MPI_Comm_free(&self_);
    // Until the spawned job is gone: a pool spawned while Open MPI's
    // daemon still tears down the last one sometimes never started
    // (MPI_Comm_spawn blocked in PMIx_Lookup, a worker in PMIx_Init).
    const absl::Time exit_deadline = absl::Now() + kSpawnedExitTimeout;
    for (const Worker& w : workers_) w.watch.AwaitExit(exit_deadline);
  }
  inter_ = MPI_COMM_NULL;
}

}  // namespace cf::internal
