#include "executors/mpi/mpi_protocol.h"

#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/transport/child_exit.h"

namespace cf::internal {

std::optional<MPIMessage> TryReceive(MPI_Comm comm) {
  int flag = 0;
  MPI_Message handle;
  MPI_Status status;
  CheckMPI(
      MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &handle, &status),
      "MPI_Improbe");
  if (!flag) return std::nullopt;
  int count = 0;
  CheckMPI(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  MPIMessage message;
  message.source = status.MPI_SOURCE;
  message.tag = status.MPI_TAG;
  message.bytes.resize(static_cast<std::size_t>(count));
  CheckMPI(MPI_Mrecv(message.bytes.data(), count, MPI_BYTE, &handle,
                     MPI_STATUS_IGNORE),
           "MPI_Mrecv");
  return message;
}

std::string WithId(std::uint64_t id) {
  std::string bytes(sizeof(id), '\0');
  std::memcpy(bytes.data(), &id, sizeof(id));
  return bytes;
}

std::optional<std::uint64_t> TakeId(std::string_view& bytes) {
  std::uint64_t id = 0;
  if (bytes.size() < sizeof(id)) return std::nullopt;
  std::memcpy(&id, bytes.data(), sizeof(id));
  bytes.remove_prefix(sizeof(id));
  return id;
}

void AppendRecord(std::string_view record, std::string* batch) {
  const std::uint64_t size = record.size();
  batch->append(reinterpret_cast<const char*>(&size), sizeof(size));
  batch->append(record);
}

std::optional<std::string_view> NextRecord(std::string_view& batch) {
  std::optional<std::uint64_t> size = TakeId(batch);
  if (!size || *size > batch.size()) return std::nullopt;
  std::string_view record = batch.substr(0, *size);
  batch.remove_prefix(*size);
  return record;
}

Backoff::Backoff(absl::Duration spin, absl::Duration first_sleep,
                 absl::Duration max_sleep)
    : spin_(spin),
      first_sleep_(first_sleep),
      max_sleep_(max_sleep),
      last_event_(absl::Now()),
      sleep_(first_sleep) {}

void Backoff::Reset() {
  last_event_ = absl::Now();
  sleep_ = first_sleep_;
}

void Backoff::Wait() {
  if (absl::Now() - last_event_ < spin_) {
    sched_yield();
    return;
  }
  absl::SleepFor(sleep_);
  sleep_ = std::min(sleep_ * 2, max_sleep_);
}

PeerWatch::PeerWatch(std::int64_t pid, const HostIdentity& host,
                     absl::Duration timeout)
    : timeout_(timeout) {
  if (pid > 0 && SameKernel(host, ThisHost())) {
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  }
}

PeerWatch::PeerWatch(PeerWatch&& other) noexcept { *this = std::move(other); }

PeerWatch& PeerWatch::operator=(PeerWatch&& other) noexcept {
  if (this != &other) {
    if (pidfd_ >= 0) close(pidfd_);
    pidfd_ = std::exchange(other.pidfd_, -1);
    timeout_ = other.timeout_;
    last_heard_ = other.last_heard_;
  }
  return *this;
}

PeerWatch::~PeerWatch() {
  if (pidfd_ >= 0) close(pidfd_);
}

std::string PeerWatch::Check(absl::Time now) const {
  if (pidfd_ >= 0) {
    pollfd p = {.fd = pidfd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 0) > 0) return "ended";
  }
  if (timeout_ != absl::InfiniteDuration() && now - last_heard_ > timeout_) {
    return absl::StrCat("sent nothing for ", absl::FormatDuration(timeout_),
                        " (stopped, hung outside any task, or its host or "
                        "network is down)");
  }
  return "";
}

void PeerWatch::AwaitExit(absl::Time deadline) const {
  if (pidfd_ >= 0) WaitExited(pidfd_, deadline - absl::Now());
}

bool SendWatched(MPI_Comm comm, int dest, int tag, std::string_view bytes,
                 const PeerWatch& watch) {
  MPI_Request request;
  CheckMPI(MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE,
                     dest, tag, comm, &request),
           "MPI_Isend");
  // A small message is usually sent at once: no clock, no syscall of ours.
  for (int i = 0; i < 64; ++i) {
    int done = 0;
    CheckMPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return true;
  }
  Backoff backoff(absl::Microseconds(100), absl::Microseconds(10),
                  absl::Milliseconds(1));
  absl::Time next_check = absl::Now() + absl::Milliseconds(10);
  while (true) {
    int done = 0;
    CheckMPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return true;
    const absl::Time now = absl::Now();
    if (now >= next_check) {
      if (!watch.Check(now).empty()) {
        MPI_Request_free(&request);
        return false;
      }
      next_check = now + absl::Milliseconds(10);
    }
    backoff.Wait();
  }
}

}  // namespace cf::internal
