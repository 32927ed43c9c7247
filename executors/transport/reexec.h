// Starting this program again as a ProcessPoolExecutor worker or fork server
// (the kSpawn and kForkServer start methods), and the handshake that opens
// such a process's socket.
//
// The one thing to know: a re-executed process is laid out anew, so it must
// run the very same build as its parent. The parent's first bytes are the
// frame key and a Hello carrying its build fingerprint; the child answers
// with its own fingerprint before it reads any task, and each side refuses to
// go on if they differ.
#ifndef CF_EXECUTORS_TRANSPORT_REEXEC_H_
#define CF_EXECUTORS_TRANSPORT_REEXEC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "executors/transport/frame.h"

namespace cf::internal {

// argv[1] of a re-executed process says what it is; argv[2] is the parent's
// pid. Its socket to the parent is always this descriptor.
inline constexpr char kWorkerFlag[] = "--cf-worker";
inline constexpr char kForkServerFlag[] = "--cf-forkserver";
inline constexpr int kReexecFd = 3;

// What a re-executed worker or fork server needs before it can serve.
struct Hello {
  std::string fingerprint;  // build_fingerprint.h
  std::uint64_t max_payload = 0;
  std::string initializer;     // an encoded call, or empty
  std::int64_t max_tasks = 0;  // tasks before a worker exits; 0: no limit

  template <class Archive>
  void serialize(Archive& archive) {
    archive(fingerprint, max_payload, initializer, max_tasks);
  }
};

// cf::Init's half: remembers argv[0] and this build's fingerprint, or, in a
// re-executed process, serves and exits without returning.
void InitProcess(int argc, char** argv);
bool ProcessInitialized();
const std::string& ProcessFingerprint();

// Starts this program (/proc/self/exe) with `flag`, `child_fd` becoming its
// kReexecFd and no other descriptor of ours open in it. Returns its pid;
// throws std::runtime_error if it cannot be started.
pid_t Reexec(const char* flag, int child_fd);

// Writes the key and the Hello a re-executed process reads first.
void SendHello(int fd, const FrameKey& key, const Hello& hello);

// The payload of the child's kHello answer: its own fingerprint.
std::string EncodeFingerprint(const std::string& fingerprint);
std::string DecodeFingerprint(std::string_view payload);

// What to tell the user when fingerprints differ.
// `who`: "worker 123", "the fork server (pid 123)".
std::string BuildMismatchMessage(const std::string& who,
                                 const std::string& parent,
                                 const std::string& child);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_REEXEC_H_
