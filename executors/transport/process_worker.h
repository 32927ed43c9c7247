// The loop a worker process runs: read a task frame, run the call, send back
// its result or its exception, until told to stop or the parent goes away.
//
// It never returns: a worker ends with _exit, so that nothing the parent's
// image registered (atexit handlers, static destructors, buffered output
// copied at fork) runs twice. A task that calls exit() or quick_exit() ends
// the worker the same way, with the code it gave.
#ifndef CF_EXECUTORS_TRANSPORT_PROCESS_WORKER_H_
#define CF_EXECUTORS_TRANSPORT_PROCESS_WORKER_H_

#include <cstdint>
#include <string>

#include "executors/transport/frame.h"

namespace cf::internal {

// Exit codes a worker chooses itself, so the parent can say why it ended.
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitInitializerFailed = 3;
inline constexpr int kWorkerExitBadStream = 4;
inline constexpr int kWorkerExitBuildMismatch = 5;
inline constexpr int kWorkerExitRefusedCall = 6;  // an unknown entry point

struct WorkerConfig {
  int fd = -1;  // the worker's end of its socketpair with the parent
  FrameKey key;
  std::uint64_t max_payload = 0;
  std::string initializer;  // an encoded call, or empty
  std::int64_t max_tasks = 0;  // exit after this many tasks; 0: no limit
};

[[noreturn]] void RunWorker(const WorkerConfig& config);
// The config of the worker loop running in this process, for a call that
// takes the channel over (a cf::Process child); nullptr outside RunWorker.
const WorkerConfig* RunningWorkerConfig();
// The same, reading on from `decoder`, which may already hold task frames.
[[noreturn]] void RunWorker(const WorkerConfig& config, FrameDecoder& decoder);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_PROCESS_WORKER_H_
