// The child programs of CPython's test_shutdown.py for the process pool
// (Python runs `python -c "..."` and checks its stdout and stderr). Python's
// interpreter shutdown is C++'s exit(): the pools here have static storage
// duration, so their destructor (shutdown(wait=true)) runs during exit(), as
// Python's atexit hook joins the workers.
//
// Usage: cpython_shutdown_child <mode> <Fork|Spawn|ForkServer>; see main().
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "cf.h"

namespace {

cf::StartMethod method = cf::StartMethod::kFork;

// CPython's sleep_and_print(t, msg) (1 s there; 0.2 s here).
int SleepAndPrint(double seconds, std::string msg) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::printf("%s\n", msg.c_str());
  std::fflush(stdout);
  return 0;
}

int Identity(int x) { return x; }

cf::ProcessPoolExecutor& StaticPool(int max_workers) {
  static cf::ProcessPoolExecutor pool(
      {.max_workers = max_workers, .start_method = method});
  return pool;
}

// test_interpreter_shutdown: submit and leave; exit() must run the call.
int InterpreterShutdown() {
  StaticPool(5).submit(SleepAndPrint, 0.2, std::string("apple"));
  return 0;
}

void RunLast() {
  try {
    StaticPool(5).submit(Identity, 0);
    std::printf("no error\n");
  } catch (const std::runtime_error& e) {
    std::printf("runtime-error\n");
    std::fprintf(stderr, "RuntimeError: %s\n", e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
}

void ShutdownAtExit() { StaticPool(5).shutdown(/*wait=*/true); }

// test_submit_after_interpreter_shutdown: a submit made during exit(), after
// the pool was shut down there, raises "cannot schedule new futures". (cf has
// no global "interpreter is shutting down" state: an exit handler shuts the
// pool down, as Python's threading atexit hook does.)
int SubmitAfterShutdownAtExit() {
  StaticPool(5).submit(Identity, 42).result();
  // Exit handlers run in reverse order: ShutdownAtExit, RunLast, then the
  // static pool's destructor.
  std::atexit(RunLast);
  std::atexit(ShutdownAtExit);
  return 0;
}

// test_hang_gh83386 (Python skips it for the process pool: "Hangs"):
// shutdown(wait=false) with a running call; exiting does not hang and the
// call completes.
int ShutdownNoWait() {
  cf::ProcessPoolExecutor& pool = StaticPool(3);
  pool.submit(SleepAndPrint, 0.2, std::string("apple"));
  pool.shutdown(/*wait=*/false);
  return 0;
}

// test_cancel_futures_wait_false (Python runs it for threads only):
// shutdown(wait=false, cancel_futures=true) right after submit; the call
// either ran or was cancelled (gh-116682).
int CancelFuturesNoWait() {
  cf::ProcessPoolExecutor& pool = StaticPool(2);
  pool.submit(SleepAndPrint, 0.1, std::string("apple"));
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <mode> <Fork|Spawn|ForkServer>\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::string start = argv[2];
  if (start == "Fork") {
    method = cf::StartMethod::kFork;
  } else if (start == "Spawn") {
    method = cf::StartMethod::kSpawn;
  } else if (start == "ForkServer") {
    method = cf::StartMethod::kForkServer;
  } else {
    std::fprintf(stderr, "unknown start method %s\n", start.c_str());
    return 2;
  }
  if (mode == "interpreter_shutdown") return InterpreterShutdown();
  if (mode == "submit_after_shutdown_at_exit") return SubmitAfterShutdownAtExit();
  if (mode == "shutdown_no_wait") return ShutdownNoWait();
  if (mode == "cancel_futures_no_wait") return CancelFuturesNoWait();
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
