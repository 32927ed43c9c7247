#include "executors/transport/process_worker.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "executors/transport/byte_stream.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/process_identity.h"
#include "executors/transport/remote_call.h"
#include "executors/transport/remote_exception.h"

namespace cf::internal {
namespace {

[[noreturn]] void Exit(int code) {
  // Output the tasks printed must not be lost, as Python flushes
  // sys.stdout and sys.stderr at exit. Only those two: other streams may
  // hold bytes the parent buffered before the fork, which are its to write.
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

// exit() in a task ends the worker with the task's code (see
// PushChildExitHook).
void ExitFromTask(int status, bool quick) {
  if (quick) _exit(kWorkerExitOk);
  Exit(status);
}

// Runs an encoded call; on failure, fills *error instead of *result. A call
// naming an entry point this program never instantiated is not a task's
// failure: the stream cannot be trusted, so the worker says why and exits.
bool RunCall(std::string_view call, std::string* result, std::string* error) {
  RemoteException failure;
  {
    ScopedThrowCapture capture;
    try {
      RunEncodedCall(call, result);
      return true;
    } catch (const UnknownEntryError& e) {
      const std::string message =
          absl::StrCat("cf worker ", getpid(), ": refused a call: ", e.what(),
                       "\n");
      [[maybe_unused]] ssize_t n =
          write(STDERR_FILENO, message.data(), message.size());
      Exit(kWorkerExitRefusedCall);
    } catch (...) {
      failure = CaptureCurrentException();
    }
  }
  *error = EncodeValue(failure);
  return false;
}

const WorkerConfig* running_config = nullptr;

void Send(int fd, const FrameKey& key, FrameKind kind, std::uint64_t id,
          std::string_view payload, std::string& buffer) {
  buffer.clear();
  AppendFrame(key, kind, id, payload, &buffer);
  if (!WriteAll(fd, buffer).ok()) Exit(kWorkerExitOk);  // the parent is gone
}

}  // namespace

void RunWorker(const WorkerConfig& config) {
  FrameDecoder decoder(config.key, config.max_payload);
  RunWorker(config, decoder);
}

const WorkerConfig* RunningWorkerConfig() { return running_config; }

void RunWorker(const WorkerConfig& config, FrameDecoder& decoder) {
  running_config = &config;
  PushChildExitHook(ExitFromTask);
  std::string out, result, error;
  std::int64_t tasks = 0;
  if (!config.initializer.empty() &&
      !RunCall(config.initializer, &result, &error)) {
    // Python logs this in the worker and the pool breaks when it exits; the
    // parent also gets the exception, to name it in the error.
    Send(config.fd, config.key, FrameKind::kError, 0, error, out);
    Exit(kWorkerExitInitializerFailed);
  }
  while (true) {
    absl::StatusOr<std::optional<Frame>> frame = ReadFrame(config.fd, decoder);
    if (!frame.ok()) {
      std::string message = absl::StrCat("cf worker ", getpid(),
                                         ": bad stream from the parent: ",
                                         frame.status().message(), "\n");
      std::fputs(message.c_str(), stderr);
      Exit(kWorkerExitBadStream);
    }
    if (!frame->has_value()) Exit(kWorkerExitOk);  // the parent closed
    Frame& f = **frame;
    switch (f.kind) {
      case FrameKind::kTask:
        result.clear();
        if (RunCall(f.payload, &result, &error)) {
          Send(config.fd, config.key, FrameKind::kResult, f.id, result, out);
        } else {
          Send(config.fd, config.key, FrameKind::kError, f.id, error, out);
        }
        // Python's max_tasks_per_child: the parent counts too, and expects
        // this exit right after the last answer.
        if (config.max_tasks > 0 && ++tasks >= config.max_tasks) {
          Exit(kWorkerExitOk);
        }
        break;
      case FrameKind::kIdentity:
        try {
          SetProcessIdentity(DecodeResult<ProcessIdentity>(f.payload));
        } catch (const std::exception&) {
          Exit(kWorkerExitBadStream);  // authenticated, yet not ours
        }
        break;
      case FrameKind::kShutdown:
        Exit(kWorkerExitOk);
      default: {
        std::string message =
            absl::StrCat("cf worker ", getpid(), ": unexpected frame kind ",
                         static_cast<int>(f.kind), " from the parent\n");
        std::fputs(message.c_str(), stderr);
        Exit(kWorkerExitBadStream);
      }
    }
  }
}

}  // namespace cf::internal
