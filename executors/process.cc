#include "executors/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executors/init.h"
#include "executors/internal/process_launch.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/fd_passing.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/remote_exception.h"

namespace cf {
namespace internal {

struct ProcessState {
  std::mutex mu;
  std::string name;
  std::vector<int> numbers;
  bool daemon = false;
  StartMethod method = StartMethod::kFork;
  pid_t creator = getpid();
  std::unique_ptr<ProcessTarget> target;
  bool started = false;
  bool closed = false;
  LaunchedChild child;
  int sentinel = -1;              // the child's pidfd, until close()
  std::optional<int> exitcode;   // once reaped
  bool reaped = false;

  ~ProcessState() {
    if (creator == getpid()) CloseOwnedFd(sentinel);
  }
};

namespace {

// What this process was told about itself by the parent that started it.
struct Lineage {
  std::vector<int> numbers;  // () in the main process
  std::string parent_name;
  int parent_pidfd = -1;
};

Lineage& GetLineage() {
  static Lineage* lineage = new Lineage();
  return *lineage;
}

// The children this process started and has not reaped. A fork's copy is
// another process's: dropped on first use in the child.
struct Children {
  std::mutex mu;
  pid_t pid = 0;
  std::vector<std::shared_ptr<ProcessState>> live;
  bool atexit_registered = false;
};

Children& GetChildren();

Children* NewChildren() {
  Children* c = new Children();  // outlives static destructors
  pthread_atfork([] { GetChildren().mu.lock(); },
                 [] { GetChildren().mu.unlock(); },
                 [] { GetChildren().mu.unlock(); });
  return c;
}

Children& GetChildren() {
  static Children* children = NewChildren();
  return *children;
}

// Call with c.mu held.
void ResetIfForked(Children& c) {
  if (c.pid == getpid()) return;
  // The states are the parent's; leak them rather than close its descriptors.
  for (auto& state : c.live) new std::shared_ptr<ProcessState>(state);
  c.live.clear();
  c.pid = getpid();
  c.atexit_registered = false;
}

void Forget(const std::shared_ptr<ProcessState>& state) {
  Children& c = GetChildren();
  std::lock_guard<std::mutex> lock(c.mu);
  ResetIfForked(c);
  c.live.erase(std::remove(c.live.begin(), c.live.end(), state), c.live.end());
}

std::optional<int> StatusToExitcode(int status) {
  if (status == kStatusNotCollected || status == kStatusLostWithServer) {
    return std::nullopt;  // ended, but how is unknown: never guessed
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return std::nullopt;
}

// Non-blocking: reaps the child if it has ended; whether it has. Call with
// state.mu held, and Forget() the state after when it returns true.
bool PollLocked(ProcessState& s) {
  if (!s.started) return false;
  if (s.reaped) return true;
  if (!WaitExited(s.sentinel, absl::ZeroDuration())) return false;
  LaunchedChild child = s.child;
  child.pidfd = fcntl(s.sentinel, F_DUPFD_CLOEXEC, 0);
  RegisterOwnedFd(child.pidfd);
  s.exitcode = StatusToExitcode(CollectStatus(child));
  s.reaped = true;
  return true;
}

// Whether the child has ended (and is reaped).
bool Poll(const std::shared_ptr<ProcessState>& state) {
  bool ended;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    ended = PollLocked(*state);
  }
  if (ended) Forget(state);
  return ended;
}

void CheckClosed(const ProcessState& s) {
  if (s.closed) throw std::invalid_argument("process object is closed");
}

void JoinChildrenAtExit() {
  // Python's _exit_function: daemons are terminated, the others waited for.
  for (Process& p : active_children()) {
    if (p.daemon()) p.terminate();
  }
  for (Process& p : active_children()) p.join();
}

void JoinChildrenOnExit(int, bool quick) {
  if (!quick) JoinChildrenAtExit();
}

// The frames of the target's call: those below it (the worker loop, and in
// a forked child the parent's frames it was forked from) say nothing.
std::string TargetFrames(const std::string& traceback) {
  const std::size_t cut = traceback.find(" cf::internal::RunEncodedCall(");
  if (cut == std::string::npos) return traceback;
  const std::size_t line = traceback.rfind('\n', cut);
  return line == std::string::npos ? traceback : traceback.substr(0, line);
}

void PrintTraceback(const std::string& name, const RemoteException& e) {
  std::cout.flush();
  std::fflush(stdout);
  std::string text = absl::StrCat("Process ", name,
                                  ":\nTraceback (most recent call last):\n",
                                  TargetFrames(e.traceback), "\n", e.type_name);
  if (!e.message.empty()) absl::StrAppend(&text, ": ", e.message);
  text += "\n";
  std::cerr.flush();
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

// The child's descriptor table handed to its arguments, then its target.
int RunTarget(const ProcessStart& start, std::vector<int> fds) {
  FdReceiveScope scope(std::move(fds));
  RemoteException failure;
  {
    ScopedThrowCapture capture;
    try {
      std::string ignored;
      RunEncodedCall(start.call, &ignored);
      return 0;
    } catch (...) {
      failure = CaptureCurrentException();
    }
  }
  PrintTraceback(start.identity.name, failure);
  return 1;
}

}  // namespace

void ProcessMain(ProcessStart start) {
  ResetProcessNumbers();
  SetProcessIdentity(start.identity);
  Lineage& lineage = GetLineage();
  lineage.numbers = start.numbers;
  lineage.parent_name = start.parent_name;
  // The parent decides about Ctrl-C for its workers, not for its processes.
  signal(SIGINT, SIG_DFL);
  // Only a daemon dies with its parent (a fork server's children already
  // do with the server, which dies with the parent).
  prctl(PR_SET_PDEATHSIG, start.identity.daemon ? SIGKILL : 0);
  const pid_t parent = start.identity.parent_pid;
  // A parent that died before the signal was armed is gone already.
  if (start.identity.daemon && !start.via_server && getppid() != parent) {
    _exit(1);
  }
  lineage.parent_pidfd = OpenPidfd(parent);
  std::vector<int> fds = AcceptStart(start.fd_count);
  // Python's children read no stdin. (After the channel is closed: it may
  // have been descriptor 0.)
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd > STDIN_FILENO) {
    dup2(null_fd, STDIN_FILENO);
    close(null_fd);
  }
  // exit() in the target waits for this child's own children first.
  PushChildExitHook(JoinChildrenOnExit);
  const int code = RunTarget(start, std::move(fds));
  JoinChildrenAtExit();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

}  // namespace internal

using internal::ProcessState;

Process::Process() : Process(ProcessOptions{}) {}

Process::Process(ProcessOptions options) { Init(std::move(options), nullptr); }

void Process::Init(ProcessOptions options,
                   std::unique_ptr<internal::ProcessTarget> target) {
  state_ = std::make_shared<ProcessState>();
  ProcessState& s = *state_;
  s.numbers = internal::GetLineage().numbers;
  s.numbers.push_back(internal::NextProcessNumber());
  s.name = options.name.has_value()
               ? *options.name
               : absl::StrCat("Process-", absl::StrJoin(s.numbers, ":"));
  s.daemon = options.daemon.value_or(current_process().daemon());
  s.method = options.start_method;
  s.target = std::move(target);
}

void Process::start() {
  (void)active_children();  // reaps the finished ones, as Python's _cleanup
  ProcessState& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  internal::CheckClosed(s);
  if (s.started) throw std::logic_error("cannot start a process twice");
  if (s.creator != getpid()) {
    throw std::logic_error(
        "can only start a process object created by current process");
  }
  if (current_process().daemon()) {
    throw std::logic_error("daemonic processes are not allowed to have children");
  }
  if (s.method != StartMethod::kFork && !Initialized()) {
    throw std::logic_error(absl::StrCat(
        "cf::Process: start method ",
        s.method == StartMethod::kSpawn ? "kSpawn" : "kForkServer",
        " starts the child by running this program again, so main() must "
        "call cf::Init(argc, argv) before anything else (#include \"cf.h\"); "
        "add it as the first line of main(), or use cf::StartMethod::kFork"));
  }
  internal::ProcessStart start{
      .identity = {.name = s.name, .parent_pid = getpid(), .daemon = s.daemon},
      .numbers = s.numbers,
      .parent_name = current_process().name(),
      .fd_count = 0,
      .call = {},
      .via_server = s.method == StartMethod::kForkServer};
  std::vector<int> fds;
  if (s.target != nullptr) {
    internal::FdSendScope scope;
    start.call = s.target->Encode();
    fds = scope.fds();
  } else {
    internal::EncodeCall<void>(+[] {}, std::tuple<>(), &start.call);
  }
  start.fd_count = static_cast<std::uint32_t>(fds.size());
  std::string entry;
  internal::EncodeCall<void>(&internal::ProcessMain, std::make_tuple(start),
                             &entry);
  s.child = internal::LaunchProcess(s.method, entry, fds);
  s.sentinel = s.child.pidfd;
  s.started = true;
  s.target.reset();
  internal::Children& c = internal::GetChildren();
  std::lock_guard<std::mutex> children_lock(c.mu);
  internal::ResetIfForked(c);
  c.live.push_back(state_);
  if (!c.atexit_registered) {
    std::atexit(internal::JoinChildrenAtExit);
    c.atexit_registered = true;
  }
}

void Process::join(absl::Duration timeout) {
  int sentinel;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    internal::CheckClosed(*state_);
    if (state_->creator != getpid()) {
      throw std::logic_error("can only join a child process");
    }
    if (!state_->started) {
      throw std::logic_error("can only join a started process");
    }
    if (state_->reaped) return;
    sentinel = state_->sentinel;
  }
  internal::WaitExited(sentinel, timeout);
  internal::Poll(state_);
}

bool Process::is_alive() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    internal::CheckClosed(*state_);
    if (state_->creator != getpid()) {
      throw std::logic_error("can only test a child process");
    }
    if (!state_->started) return false;
  }
  return !internal::Poll(state_);
}

namespace {

void Signal(ProcessState& s, int sig) {
  std::lock_guard<std::mutex> lock(s.mu);
  internal::CheckClosed(s);
  if (!s.started || s.reaped) return;
  // Through the pidfd: never a reused pid.
  syscall(SYS_pidfd_send_signal, s.sentinel, sig, nullptr, 0);
}

}  // namespace

void Process::terminate() { Signal(*state_, SIGTERM); }
void Process::kill() { Signal(*state_, SIGKILL); }

std::optional<int> Process::exitcode() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    internal::CheckClosed(*state_);
    if (!state_->started) return std::nullopt;
  }
  internal::Poll(state_);
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->exitcode;
}

std::optional<pid_t> Process::pid() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  internal::CheckClosed(*state_);
  if (!state_->started) return std::nullopt;
  return state_->child.pid;
}

std::string Process::name() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->name;
}

void Process::set_name(std::string name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->name = std::move(name);
}

bool Process::daemon() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->daemon;
}

void Process::set_daemon(bool daemon) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->started) throw std::logic_error("process has already started");
  state_->daemon = daemon;
}

StartMethod Process::start_method() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->method;
}

int Process::sentinel() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  internal::CheckClosed(*state_);
  if (!state_->started) throw std::invalid_argument("process not started");
  return state_->sentinel;
}

void Process::close() {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->closed) return;
  if (state_->started) {
    if (!internal::PollLocked(*state_)) {
      throw std::invalid_argument(
          "Cannot close a process while it is still running. You should "
          "first call join() or terminate().");
    }
    internal::CloseOwnedFd(state_->sentinel);
    state_->sentinel = -1;
  }
  state_->closed = true;
}

std::string to_string(Process& process) {
  const std::shared_ptr<ProcessState>& state = process.state_;
  std::string status;
  bool ended = false;
  std::unique_lock<std::mutex> lock(state->mu);
  if (state->closed) {
    status = "closed";
  } else if (state->creator != getpid()) {
    status = "unknown";
  } else if (!state->started) {
    status = "initial";
  } else {
    ended = internal::PollLocked(*state);
    status = ended ? "stopped" : "started";
  }
  std::string text = absl::StrCat("<Process name='", state->name, "'");
  if (state->started) absl::StrAppend(&text, " pid=", state->child.pid);
  absl::StrAppend(&text, " parent=", state->creator, " ", status);
  if (ended && state->exitcode.has_value()) {
    const int code = *state->exitcode;
    const char* abbrev = code < 0 ? sigabbrev_np(-code) : nullptr;
    if (abbrev != nullptr) {
      absl::StrAppend(&text, " exitcode=-SIG", abbrev);
    } else {
      absl::StrAppend(&text, " exitcode=", code);
    }
  }
  if (state->daemon) text += " daemon";
  text += ">";
  lock.unlock();
  if (ended) internal::Forget(state);
  return text;
}

bool ParentProcess::is_alive() const {
  if (sentinel_ < 0) return kill(pid_, 0) == 0 || errno == EPERM;
  return !internal::WaitExited(sentinel_, absl::ZeroDuration());
}

void ParentProcess::join(absl::Duration timeout) const {
  if (sentinel_ >= 0) internal::WaitExited(sentinel_, timeout);
}

std::optional<ParentProcess> parent_process() {
  const internal::ProcessIdentity& me = internal::CurrentProcessIdentity();
  if (me.parent_pid == 0) return std::nullopt;
  const internal::Lineage& lineage = internal::GetLineage();
  return ParentProcess(lineage.parent_name, me.parent_pid,
                       lineage.parent_pidfd);
}

std::vector<Process> active_children() {
  std::vector<std::shared_ptr<ProcessState>> live;
  {
    internal::Children& c = internal::GetChildren();
    std::lock_guard<std::mutex> lock(c.mu);
    internal::ResetIfForked(c);
    live = c.live;
  }
  std::vector<Process> children;
  for (std::shared_ptr<ProcessState>& state : live) {
    if (!internal::Poll(state)) children.push_back(Process(std::move(state)));
  }
  return children;
}

}  // namespace cf
