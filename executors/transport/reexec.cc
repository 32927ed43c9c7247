#include "executors/transport/reexec.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "executors/transport/build_fingerprint.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/fork_server.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/remote_call.h"

extern char** environ;

namespace cf::internal {
namespace {

// Written once by InitProcess, before any pool can exist.
bool initialized = false;
std::string program_name;
std::string fingerprint;

[[noreturn]] void Die(int code, const std::string& message) {
  if (!message.empty()) {
    std::string line = absl::StrCat("cf worker ", getpid(), ": ", message, "\n");
    [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
  }
  _exit(code);
}

// The life of a re-executed process, from its first line of main().
[[noreturn]] void Serve(const char* flag, pid_t parent) {
  // As a forked worker: gone with its parent, deaf to Ctrl-C (the parent
  // handles it). The parent may have died before prctl took effect. Not the
  // fork server: it serves the whole process, whichever thread started it
  // (a parent-death signal follows that thread), and it exits when the
  // process's end of its socket closes.
  const bool fork_server = std::strcmp(flag, kForkServerFlag) == 0;
  if (!fork_server) prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(kWorkerExitOk);
  signal(SIGINT, SIG_IGN);

  const int fd = kReexecFd;
  // Programs a task runs must not inherit the channel: one left running
  // (system("cmd &")) would keep it open after this worker is gone.
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  char key_bytes[FrameKey::kSize];
  if (!ReadExactly(fd, key_bytes, sizeof(key_bytes))) _exit(kWorkerExitOk);
  const FrameKey key = *FrameKey::FromBytes({key_bytes, sizeof(key_bytes)});
  FrameDecoder decoder(key, std::uint64_t{1} << 32);
  absl::StatusOr<std::optional<Frame>> frame = ReadFrame(fd, decoder);
  if (!frame.ok()) Die(kWorkerExitBadStream, std::string(frame.status().message()));
  if (!frame->has_value()) _exit(kWorkerExitOk);
  if ((*frame)->kind != FrameKind::kHello) {
    Die(kWorkerExitBadStream, "the parent's first frame is not a hello");
  }
  Hello hello;
  try {
    hello = DecodeResult<Hello>((*frame)->payload);
  } catch (const std::exception& e) {
    Die(kWorkerExitBadStream, absl::StrCat("bad hello: ", e.what()));
  }
  std::string answer;
  AppendFrame(key, FrameKind::kHello, 0, EncodeFingerprint(fingerprint),
              &answer);
  if (!WriteAll(fd, answer).ok()) _exit(kWorkerExitOk);
  // The parent names the mismatch in its error; never run its tasks.
  if (hello.fingerprint != fingerprint) _exit(kWorkerExitBuildMismatch);

  WorkerConfig config{.fd = fd,
                      .key = key,
                      .max_payload = hello.max_payload,
                      .initializer = std::move(hello.initializer),
                      .max_tasks = hello.max_tasks};
  if (fork_server) RunForkServer(fd);
  RunWorker(config, decoder);
}

}  // namespace

void InitProcess(int argc, char** argv) {
  if (!initialized) {
    program_name = argc > 0 && argv[0] != nullptr ? argv[0] : "cf-worker";
    fingerprint = ComputeBuildFingerprint();
    initialized = true;
  }
  if (argc < 3) return;
  const char* flag = argv[1];
  if (std::strcmp(flag, kWorkerFlag) != 0 &&
      std::strcmp(flag, kForkServerFlag) != 0) {
    return;
  }
  int parent = 0;
  if (!absl::SimpleAtoi(argv[2], &parent)) return;
  Serve(flag, parent);
}

bool ProcessInitialized() { return initialized; }
const std::string& ProcessFingerprint() { return fingerprint; }

pid_t Reexec(const char* flag, int child_fd) {
  // dup2 onto itself would leave close-on-exec set.
  int fd = child_fd;
  if (fd == kReexecFd) fd = fcntl(child_fd, F_DUPFD_CLOEXEC, kReexecFd + 1);
  if (fd < 0) {
    throw std::runtime_error(
        absl::StrCat("ProcessPoolExecutor: dup failed: ", strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, kReexecFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kReexecFd + 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // An ignored SIGCHLD survives exec, and would make the kernel discard the
  // exit status of every child the fork server (or a task) waits for.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const std::string parent = absl::StrCat(getpid());
  char* argv[] = {program_name.data(), const_cast<char*>(flag),
                  const_cast<char*>(parent.c_str()), nullptr};
  pid_t pid = 0;
  const int err =
      posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (fd != child_fd) close(fd);
  if (err != 0) {
    throw std::runtime_error(absl::StrCat(
        "ProcessPoolExecutor: could not start /proc/self/exe: ", strerror(err)));
  }
  return pid;
}

void SendHello(int fd, const FrameKey& key, const Hello& hello) {
  std::string bytes(key.bytes());
  AppendFrame(key, FrameKind::kHello, 0, EncodeValue(hello), &bytes);
  absl::Status status = WriteAll(fd, bytes);
  if (!status.ok()) {
    throw std::runtime_error(absl::StrCat(
        "ProcessPoolExecutor: could not greet a new process: ",
        status.message()));
  }
}

std::string EncodeFingerprint(const std::string& fingerprint) {
  return EncodeValue(fingerprint);
}

std::string DecodeFingerprint(std::string_view payload) {
  try {
    return DecodeResult<std::string>(payload);
  } catch (const std::exception&) {
    return "(undecodable)";
  }
}

std::string BuildMismatchMessage(const std::string& who,
                                 const std::string& parent,
                                 const std::string& child) {
  return absl::StrCat(
      who, " runs a different build of this program (build ",
      FingerprintDigest(child), ") than this process (build ",
      FingerprintDigest(parent),
      "): the program or one of its libraries changed on disk since this "
      "process started, and a re-executed worker would run other code; "
      "restart the program, or use cf::StartMethod::kFork");
}

}  // namespace cf::internal
