// What the root of an MPI pool and its workers say to each other, on an
// intercommunicator of the pool's own (the root alone on one side, the
// workers on the other), so no tag can meet a message of the program's.
//
// The one thing to know: nothing of a task is sent before both ends have
// compared build fingerprints. The root opens every session with a
// RootHello; each worker answers with a WorkerHello carrying its own
// fingerprint, pid and host, runs the initializer, and only then reads
// tasks. Either end that finds the fingerprints differ refuses to go on.
//
//   root                              worker
//   kHello(RootHello)       ->
//                           <-        kHello(WorkerHello)
//   kTasks(id, call; ...)   ->                        (any number)
//                           <-        kAnswers(result | exception; ...)
//   kHeartbeat              <->       kHeartbeat      (while quiet)
//   kEnd                    ->
//                           <-        kBye            (nothing follows)
#ifndef CF_EXECUTORS_MPI_MPI_PROTOCOL_H_
#define CF_EXECUTORS_MPI_MPI_PROTOCOL_H_

#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "executors/mpi/mpi_runtime.h"

namespace cf::internal {

enum MPITag : int {
  kMPITagHello = 1,
  kMPITagTasks,       // records: u64 id, then the encoded call
  kMPITagAnswers,     // records: u8 kResult or kError, u64 id, u64 run
                      // time (ns), the result or the RemoteException
  kMPITagInitFailed,  // the initializer's RemoteException
  kMPITagHeartbeat,   // empty
  kMPITagEnd,         // empty: the session is over
  kMPITagBye,         // empty
  kMPITagExit,        // root to a launch worker: exit now
};

struct RootHello {
  std::string fingerprint;
  std::string initializer;  // an encoded call, or empty
  std::int64_t heartbeat_interval_us = 0;
  std::int64_t heartbeat_timeout_us = 0;  // 0: no timeout
  std::int64_t pid = 0;
  HostIdentity host;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(fingerprint, initializer, heartbeat_interval_us,
            heartbeat_timeout_us, pid, host);
  }
};

struct WorkerHello {
  std::string fingerprint;
  std::int64_t pid = 0;
  HostIdentity host;
  // Its rank where the user sees it: in the spawned job's or the launch's
  // MPI_COMM_WORLD, or in the communicator given to MPICommExecutor.
  int rank = 0;
  bool heartbeats = false;  // it sends them while it runs a task

  template <class Archive>
  void serialize(Archive& archive) {
    archive(fingerprint, pid, host, rank, heartbeats);
  }
};

struct MPIMessage {
  int source = 0;
  int tag = 0;
  std::string bytes;
};

// The next message on `comm` from anyone, if one has arrived (matched probe,
// so other threads' receives cannot take it). Throws MPIError.
std::optional<MPIMessage> TryReceive(MPI_Comm comm);

// The kinds of answer records.
inline constexpr char kAnswerResult = 'R';
inline constexpr char kAnswerError = 'E';

// A task or answer: the id in 8 bytes, then the payload.
std::string WithId(std::uint64_t id);
// Splits off the id (or any u64); nullopt if `bytes` is too short.
std::optional<std::uint64_t> TakeId(std::string_view& bytes);

// Tasks and answers travel in batches, so that a stream of tiny calls pays
// one MPI message per batch rather than per call: each record is its size
// (u64), then its bytes.
void AppendRecord(std::string_view record, std::string* batch);
// The next record of `batch` (consumed); nullopt at the end or if the batch
// is cut short.
std::optional<std::string_view> NextRecord(std::string_view& batch);

// How a polling loop waits when nothing happened: it spins (yielding the
// CPU) for `spin` after the last event, then sleeps, twice as long each time,
// from `first_sleep` up to `max_sleep` (mpi4py's Backoff, with a spin).
class Backoff {
 public:
  Backoff(absl::Duration spin, absl::Duration first_sleep,
          absl::Duration max_sleep);
  void Reset();  // something happened
  void Wait();   // nothing did

 private:
  absl::Duration spin_, first_sleep_, max_sleep_;
  absl::Time last_event_;
  absl::Duration sleep_;
};

// Whether a peer process is still there: through a pidfd when it runs on
// this kernel, and by the time since it was last heard from when a timeout
// is set (a peer on another host, or one that stopped or hung).
class PeerWatch {
 public:
  PeerWatch() = default;
  PeerWatch(std::int64_t pid, const HostIdentity& host, absl::Duration timeout);
  PeerWatch(PeerWatch&& other) noexcept;
  PeerWatch& operator=(PeerWatch&& other) noexcept;
  ~PeerWatch();

  void Heard(absl::Time now) { last_heard_ = now; }
  // "" while the peer seems alive; else what happened to it.
  std::string Check(absl::Time now) const;
  bool local() const { return pidfd_ >= 0; }
  // A local peer: waits until its process has exited or `deadline` passed.
  void AwaitExit(absl::Time deadline) const;

 private:
  int pidfd_ = -1;
  absl::Duration timeout_ = absl::InfiniteDuration();
  absl::Time last_heard_ = absl::Now();
};

// Sends `bytes` to `dest` and waits until the send completed, checking
// `watch` meanwhile: returns false (the request abandoned) if the peer is
// gone, instead of blocking forever on a rendezvous nobody will answer.
bool SendWatched(MPI_Comm comm, int dest, int tag, std::string_view bytes,
                 const PeerWatch& watch);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_MPI_MPI_PROTOCOL_H_
