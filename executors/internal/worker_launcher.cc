#include "executors/internal/worker_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/process_worker.h"

namespace cf::internal {

WorkerLauncher::WorkerLauncher(StartMethod method, const FrameKey& key,
                               Hello hello)
    : method_(method), key_(key), hello_(std::move(hello)) {}

WorkerLauncher::~WorkerLauncher() = default;

LaunchedWorker WorkerLauncher::Launch(int other_threads) {
  int fds[2];
  MakeChannel(fds);
  LaunchedWorker worker;
  try {
    switch (method_) {
      case StartMethod::kFork:
        worker.pid = Fork(fds[1]);
        WarnIfForkingWithThreads("cf::ProcessPoolExecutor",
                                 "worker processes", other_threads);
        break;
      case StartMethod::kSpawn:
        worker.pid = Reexec(kWorkerFlag, fds[1]);
        worker.greeted = false;
        break;
      case StartMethod::kForkServer:
        if (fork_server_ == nullptr) {
          fork_server_ = std::make_unique<ForkServer>(
              WorkerConfig{.key = key_,
                           .max_payload = hello_.max_payload,
                           .initializer = hello_.initializer,
                           .max_tasks = hello_.max_tasks});
        }
        worker.pid = fork_server_->Fork(fds[1]);
        break;
    }
  } catch (...) {
    CloseOwnedFd(fds[0]);
    CloseOwnedFd(fds[1]);
    throw;
  }
  Connect(fds, worker);
  return worker;
}

std::vector<LaunchedWorker> WorkerLauncher::ForkAll(int n,
                                                    int other_threads) {
  std::vector<LaunchedWorker> started;
  // Every channel first: each child closes the others' ends (they are
  // registered), and nothing is written between the forks.
  std::vector<std::array<int, 2>> channels;
  std::vector<pid_t> pids;
  auto close_unforked = [&] {
    for (std::size_t i = pids.size(); i < channels.size(); ++i) {
      CloseOwnedFd(channels[i][0]);
      CloseOwnedFd(channels[i][1]);
    }
  };
  try {
    for (int i = 0; i < n; ++i) {
      std::array<int, 2> fds;
      MakeChannel(fds.data());
      channels.push_back(fds);
    }
  } catch (...) {
    if (channels.empty()) throw;
  }
  for (const std::array<int, 2>& fds : channels) {
    try {
      pids.push_back(Fork(fds[1]));
    } catch (...) {
      if (pids.empty()) {
        close_unforked();
        throw;
      }
      break;
    }
  }
  close_unforked();
  WarnIfForkingWithThreads("cf::ProcessPoolExecutor", "worker processes",
                           other_threads);
  for (std::size_t i = 0; i < pids.size(); ++i) {
    LaunchedWorker worker;
    worker.pid = pids[i];
    int fds[2] = {channels[i][0], channels[i][1]};
    Connect(fds, worker);
    started.push_back(worker);
  }
  return started;
}

void WorkerLauncher::Connect(const int fds[2], LaunchedWorker& worker) {
  CloseOwnedFd(fds[1]);
  worker.fd = fds[0];
  // Before the hello: a worker that dies at once must still be seen dying.
  worker.pidfd = OpenPidfd(worker.pid);
  if (!worker.greeted) {
    // The socket is empty and ours alone: this cannot block for long.
    try {
      SendHello(worker.fd, key_, hello_);
    } catch (...) {
      CloseOwnedFd(worker.fd);
      kill(worker.pid, SIGKILL);
      Reap(worker.pid, worker.pidfd);
      throw;
    }
  }
  fcntl(worker.fd, F_SETFL, fcntl(worker.fd, F_GETFL) | O_NONBLOCK);
}

pid_t WorkerLauncher::Fork(int child_end) {
  const WorkerConfig config{.fd = child_end,
                            .key = key_,
                            .max_payload = hello_.max_payload,
                            .initializer = hello_.initializer,
                            .max_tasks = hello_.max_tasks};
  const pid_t parent = getpid();
  const pid_t pid = ForkWorkerProcess(child_end);
  if (pid == 0) {
    // A worker whose parent dies (even by SIGKILL) goes too, even in the
    // middle of a task.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(kWorkerExitOk);
    // Ctrl-C goes to the whole process group: the parent handles it, the
    // workers must not die noisily mid-task.
    signal(SIGINT, SIG_IGN);
    RunWorker(config);
  }
  return pid;
}

int WorkerLauncher::Reap(pid_t pid, int pidfd) {
  if (fork_server_ == nullptr) {
    return ReapChild(pid, pidfd, absl::Seconds(1));
  }
  // The server's child: it reaps and reports. The kernel's record is the
  // fallback if the server is gone.
  std::optional<int> status = fork_server_->WaitExit(pid, absl::Seconds(1));
  if (!status.has_value()) {
    kill(pid, SIGKILL);
    status = fork_server_->WaitExit(pid, absl::Seconds(10));
  }
  if (!status.has_value() && pidfd >= 0 &&
      WaitExited(pidfd, absl::Seconds(1))) {
    const int recorded = StatusFromPidfd(pidfd);
    if (recorded != kStatusNotCollected) status = recorded;
  }
  CloseOwnedFd(pidfd);
  return status.value_or(kStatusLostWithServer);
}

int WorkerLauncher::report_fd() const {
  return fork_server_ != nullptr ? fork_server_->fd() : -1;
}

void WorkerLauncher::DrainReports() {
  if (fork_server_ != nullptr) fork_server_->Drain();
}

const char* WorkerLauncher::method_name() const {
  switch (method_) {
    case StartMethod::kFork:
      return "Fork";
    case StartMethod::kSpawn:
      return "Spawn";
    case StartMethod::kForkServer:
      return "ForkServer";
  }
  return "";
}

}  // namespace cf::internal
