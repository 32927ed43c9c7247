#include "executors/transport/clean_fork.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executors/transport/code_address.h"

namespace cf::internal {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int kSanitizerThreads = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kSanitizerThreads = 1;
#else
constexpr int kSanitizerThreads = 0;
#endif
#else
constexpr int kSanitizerThreads = 0;
#endif

// How long a thread seen at fork time may take to be gone before it counts.
constexpr int kExitingThreadChecks = 50;
constexpr std::chrono::microseconds kExitingThreadWait(200);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
constexpr bool kSanitizedAllocator = true;
#else
constexpr bool kSanitizedAllocator = false;
#endif
#else
constexpr bool kSanitizedAllocator = false;
#endif

int ThreadCount() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir)) n += entry->d_name[0] != '.';
    closedir(dir);
  }
  return n;
}

struct Registry {
  std::mutex mu;
  std::vector<int> fds;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();  // outlives static destructors
  return *registry;
}

// Set only in a child, which has one thread; read by the exit handlers.
using ChildExitHook = void (*)(int status, bool quick);
constexpr int kMaxChildExitHooks = 4;
ChildExitHook child_exit_hooks[kMaxChildExitHooks];
int child_exit_hook_count = 0;

void RunChildExitHooks(int status, bool quick) {
  while (child_exit_hook_count > 0) {
    child_exit_hooks[--child_exit_hook_count](status, quick);
  }
}
void RunChildExitHooksOnExit(int status, void*) {
  RunChildExitHooks(status, /*quick=*/false);
}
void RunChildExitHooksOnQuickExit() { RunChildExitHooks(0, /*quick=*/true); }

}  // namespace

void PushChildExitHook(void (*hook)(int status, bool quick)) {
  ArmChildExitHooks();  // a re-executed child: fresh, one thread, safe
  if (child_exit_hook_count == kMaxChildExitHooks) std::abort();
  child_exit_hooks[child_exit_hook_count++] = hook;
}

void ArmChildExitHooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    on_exit(RunChildExitHooksOnExit, nullptr);
    at_quick_exit(RunChildExitHooksOnQuickExit);
  });
}

void RegisterOwnedFd(int fd) {
  if (fd < 0) return;
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.fds.push_back(fd);
}

void CloseOwnedFd(int fd) {
  if (fd < 0) return;
  Registry& r = GetRegistry();
  {
    // Under the lock: a child forked now must not see the number as ours
    // after it was closed and reused by someone else.
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = std::find(r.fds.begin(), r.fds.end(), fd);
    if (it != r.fds.end()) r.fds.erase(it);
    close(fd);
  }
}

void MakeChannel(int fds[2]) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::runtime_error(
        absl::StrCat("cf: socketpair failed: ", strerror(errno)));
  }
  r.fds.push_back(fds[0]);
  r.fds.push_back(fds[1]);
}

pid_t ForkWorkerProcess(int keep_fd) {
  // The child resolves its calls through the snapshot of loaded objects:
  // take it now, so the child never needs the lock that guards taking it
  // (another thread may hold it at the fork, forever in the child).
  DescribeAddress(reinterpret_cast<std::uintptr_t>(&ForkWorkerProcess));
  // Free heap pages go back to the kernel first. Every page still mapped at
  // the fork is shared copy-on-write with the child, so the parent's next
  // write to it (its next allocations reuse free memory: a map's futures)
  // copies it and flushes the TLB of every thread; a returned page costs a
  // zero-fill fault instead, and the child has less to tear down at exit.
  // Measured on a pool's first map of 100,000 calls in a process that had
  // grown: 100 ms -> 64 ms, and idle shutdown 2.4 ms -> 1.2 ms. Not under
  // the sanitizers: their allocators are not glibc's, nothing to trim.
  if constexpr (!kSanitizedAllocator) malloc_trim(0);
  ArmChildExitHooks();
  // Only what sits in the buffers now could be printed twice; stdin is left
  // alone (another thread may be blocked reading it, holding its lock).
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  Registry& r = GetRegistry();
  r.mu.lock();
  const pid_t pid = fork();
  if (pid != 0) {
    const int err = errno;
    r.mu.unlock();
    if (pid < 0) {
      throw std::runtime_error(
          absl::StrCat("cf: fork failed: ", strerror(err)));
    }
    return pid;
  }
  // The child: one thread, the lock ours, the list as the parent had it.
  // Its exit hooks are its own: a parent that is itself a child pushed some.
  child_exit_hook_count = 0;
  for (int fd : r.fds) {
    if (fd != keep_fd) close(fd);
  }
  r.fds.clear();
  r.fds.push_back(keep_fd);
  r.mu.unlock();
  __fpurge(stdout);
  __fpurge(stderr);
  return 0;
}

void WarnIfForkingWithThreads(std::string_view who, std::string_view what,
                              int expected_others) {
  static std::atomic<bool> warned{false};
  if (warned.load(std::memory_order_relaxed)) return;
  auto count_others = [&] {
    return ThreadCount() - 1 - expected_others - kSanitizerThreads;
  };
  // A thread that was just joined (the last pool's manager, say) is listed
  // until the kernel has reaped it, a moment after the join returned; one
  // on its way out is not worth a warning.
  int others = count_others();
  for (int i = 0; others > 0 && i < kExitingThreadChecks; ++i) {
    std::this_thread::sleep_for(kExitingThreadWait);
    others = count_others();
  }
  if (others <= 0 || warned.exchange(true)) return;
  const std::string message = absl::StrCat(
      std::string(who), ": warning: forking ", std::string(what),
      " from a process with ", others,
      " other thread", others == 1 ? "" : "s",
      "; a lock one of them holds stays locked forever in the child. Use "
      ".start_method = cf::StartMethod::kForkServer (and call "
      "cf::Init(argc, argv) first thing in main) to start them from a clean "
      "process.\n");
  [[maybe_unused]] ssize_t n =
      write(STDERR_FILENO, message.data(), message.size());
}

}  // namespace cf::internal
