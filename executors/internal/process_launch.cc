#include "executors/internal/process_launch.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/fd_passing.h"
#include "executors/transport/fork_server.h"
#include "executors/transport/frame.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/reexec.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"

namespace cf::internal {
namespace {

// Arguments as large as the memory allows; a header claiming more is still
// refused before anything is allocated.
constexpr std::uint64_t kMaxPayload = std::uint64_t{1} << 40;
constexpr std::uint64_t kReadyId = 1;

// Process-wide state of the parent side; a fork's copy is dropped (leaked:
// its threads and server are not the child's).
struct Launcher {
  pid_t pid = getpid();
  FrameKey key = FrameKey::Random();
  std::mutex mu;  // guards the servers (ForkServer is not thread-safe)
  std::shared_ptr<ForkServer> server;
  // The launcher thread, started on the first start() from another thread.
  std::mutex jobs_mu;
  std::condition_variable jobs_cv;
  std::deque<std::function<void()>> jobs;
  bool thread_started = false;
  std::atomic<pid_t> thread_tid{0};
};

std::atomic<Launcher*> launcher{nullptr};

Launcher& GetLauncher() {
  Launcher* l = launcher.load(std::memory_order_acquire);
  if (l != nullptr && l->pid == getpid()) return *l;
  Launcher* fresh = new Launcher();
  if (launcher.compare_exchange_strong(l, fresh, std::memory_order_acq_rel)) {
    return *fresh;
  }
  delete fresh;  // another thread of this process won
  return *l;
}

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void LauncherMain(Launcher* l) {
  l->thread_tid.store(Tid());
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(l->jobs_mu);
      l->jobs_cv.wait(lock, [l] { return !l->jobs.empty(); });
      job = std::move(l->jobs.front());
      l->jobs.pop_front();
    }
    job();
  }
}

template <class F>
auto OnLauncherThread(Launcher& l, F f) -> decltype(f()) {
  // Shared: the launcher may still be inside the task when the result wakes
  // this thread up.
  auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
  auto result = task->get_future();
  {
    std::lock_guard<std::mutex> lock(l.jobs_mu);
    if (!l.thread_started) {
      std::thread(LauncherMain, &l).detach();  // lives as long as the process
      l.thread_started = true;
    }
    l.jobs.push_back([task] { (*task)(); });
  }
  l.jobs_cv.notify_one();
  return result.get();
}

Hello ProcessHello() {
  Hello hello;
  hello.fingerprint = ProcessFingerprint();
  hello.max_payload = kMaxPayload;
  return hello;
}

[[noreturn]] void Abandon(const LaunchedChild& child, int channel,
                          const std::string& message) {
  CloseOwnedFd(channel);
  kill(child.pid, SIGKILL);
  LaunchedChild copy = child;
  CollectStatus(copy);
  throw std::runtime_error(message);
}

LaunchedChild LaunchHere(Launcher& l, StartMethod method,
                         const std::string& entry_call,
                         const std::vector<int>& fds, bool via_launcher) {
  int channel[2];
  MakeChannel(channel);
  LaunchedChild child;
  try {
    switch (method) {
      case StartMethod::kFork: {
        // The launcher thread (when it is not the one forking) and the
        // thread blocked in start() (when the launcher forks for it) are
        // expected. Counted before the fork, checked after it (the check may
        // wait for a thread on its way out; the fork must not).
        const int expected = via_launcher || l.thread_tid.load() != 0 ? 1 : 0;
        const WorkerConfig config{.fd = channel[1],
                                  .key = l.key,
                                  .max_payload = kMaxPayload,
                                  .initializer = "",
                                  .max_tasks = 0};
        child.pid = ForkWorkerProcess(channel[1]);
        if (child.pid == 0) RunWorker(config);
        WarnIfForkingWithThreads("cf::Process", "a process", expected);
        break;
      }
      case StartMethod::kSpawn:
        child.pid = Reexec(kWorkerFlag, channel[1]);
        break;
      case StartMethod::kForkServer: {
        std::lock_guard<std::mutex> lock(l.mu);
        // A connection whose server died is replaced once; the children it
        // forked keep it for their exit statuses.
        for (int attempt = 0;; ++attempt) {
          if (l.server == nullptr) {
            l.server = std::make_shared<ForkServer>(
                WorkerConfig{.key = l.key, .max_payload = kMaxPayload});
          }
          try {
            child.pid = l.server->Fork(channel[1]);
            break;
          } catch (const std::runtime_error&) {
            l.server.reset();
            if (attempt > 0) throw;
          }
        }
        child.server = l.server;
        break;
      }
    }
  } catch (...) {
    CloseOwnedFd(channel[0]);
    CloseOwnedFd(channel[1]);
    throw;
  }
  CloseOwnedFd(channel[1]);
  child.pidfd = OpenPidfd(child.pid);
  const int fd = channel[0];
  std::string out;
  if (method == StartMethod::kSpawn) {
    out.append(l.key.bytes());
    AppendFrame(l.key, FrameKind::kHello, 0, EncodeValue(ProcessHello()), &out);
  }
  AppendFrame(l.key, FrameKind::kTask, kReadyId, entry_call, &out);
  // A child that died at once is seen below, at end of stream.
  (void)WriteAll(fd, out);
  FrameDecoder decoder(l.key, 1 << 20);
  const std::string who = absl::StrCat("cf::Process: the child (pid ", child.pid, ")");
  while (true) {
    absl::StatusOr<std::optional<Frame>> frame = ReadFrame(fd, decoder);
    if (!frame.ok()) {
      Abandon(child, fd, absl::StrCat(who, " sent a corrupt frame: ",
                                      frame.status().message()));
    }
    if (!frame->has_value()) break;  // it died before taking the call
    Frame& f = **frame;
    if (f.kind == FrameKind::kHello) {
      const std::string theirs = DecodeFingerprint(f.payload);
      if (theirs != ProcessFingerprint()) {
        Abandon(child, fd,
                BuildMismatchMessage(absl::StrCat("process ", child.pid),
                                     ProcessFingerprint(), theirs));
      }
    } else if (f.kind == FrameKind::kResult && f.id == kReadyId) {
      if (!fds.empty()) SendFds(fd, fds);
      break;
    } else if (f.kind == FrameKind::kError) {
      std::string why = "(undecodable)";
      try {
        why = DecodeResult<RemoteException>(f.payload).message;
      } catch (const std::exception&) {
      }
      Abandon(child, fd, absl::StrCat(who, " could not start: ", why));
    } else {
      Abandon(child, fd, absl::StrCat(who, " sent an unexpected frame"));
    }
  }
  CloseOwnedFd(fd);
  return child;
}

}  // namespace

LaunchedChild LaunchProcess(StartMethod method, const std::string& entry_call,
                            const std::vector<int>& fds) {
  Launcher& l = GetLauncher();
  if (Tid() == getpid()) {
    return LaunchHere(l, method, entry_call, fds, /*via_launcher=*/false);
  }
  return OnLauncherThread(l, [&l, method, &entry_call, &fds] {
    return LaunchHere(l, method, entry_call, fds, /*via_launcher=*/true);
  });
}

int CollectStatus(LaunchedChild& child) {
  const int pidfd = std::exchange(child.pidfd, -1);
  if (child.server == nullptr) {
    return ReapChild(child.pid, pidfd, absl::Seconds(1));
  }
  WaitExited(pidfd, absl::Seconds(1));
  std::optional<int> status;
  {
    Launcher& l = GetLauncher();
    std::lock_guard<std::mutex> lock(l.mu);
    status = child.server->WaitExit(child.pid, absl::Seconds(5));
  }
  if (!status.has_value()) {
    const int recorded = StatusFromPidfd(pidfd);
    status = recorded == kStatusNotCollected ? kStatusLostWithServer : recorded;
  }
  CloseOwnedFd(pidfd);
  return *status;
}

std::vector<int> AcceptStart(std::uint32_t fd_count) {
  const WorkerConfig* config = RunningWorkerConfig();
  if (config == nullptr) {
    throw std::logic_error("cf: ProcessMain runs only as a worker's task");
  }
  std::string ready;
  AppendFrame(config->key, FrameKind::kResult, kReadyId, "", &ready);
  if (!WriteAll(config->fd, ready).ok()) _exit(1);  // the parent is gone
  std::vector<int> fds;
  if (fd_count > 0) fds = RecvFds(config->fd, fd_count);
  CloseOwnedFd(config->fd);
  return fds;
}

}  // namespace cf::internal
