// The child programs of CPython's test_shutdown.py, which runs
// `python -c "..."` and checks its stdout and stderr. Python's "interpreter
// shutdown" is C++'s exit(): the executors here have static storage duration,
// so their destructor (shutdown(wait=true)) runs during exit(), as Python's
// atexit hook joins the workers.
//
// Usage: shutdown_child <mode>; see main().
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "cf.h"

namespace {

// CPython's sleep_and_print(t, msg) (1 s there; 0.2 s here).
int SleepAndPrint(double seconds, std::string msg) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::printf("%s\n", msg.c_str());
  std::fflush(stdout);
  return 0;
}

// test_interpreter_shutdown: submit and leave; exit() must run the call.
int InterpreterShutdown() {
  static cf::ThreadPoolExecutor t(5);
  t.submit(SleepAndPrint, 0.2, std::string("apple"));
  return 0;
}

cf::ThreadPoolExecutor* at_exit_executor = nullptr;

void RunLast() {
  try {
    at_exit_executor->submit([] { return 0; });
    std::printf("no error\n");
  } catch (const std::runtime_error& e) {
    std::printf("runtime-error\n");
    std::fprintf(stderr, "RuntimeError: %s\n", e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
}

void ShutdownAtExit() { at_exit_executor->shutdown(/*wait=*/true); }

// test_submit_after_interpreter_shutdown: a submit made during exit(), after
// the executor was shut down there, raises "cannot schedule new futures".
// (cf has no global "interpreter is shutting down" state: the executor is
// shut down by an exit handler, as Python's threading atexit hook does.)
int SubmitAfterShutdownAtExit() {
  static cf::ThreadPoolExecutor t(5);
  at_exit_executor = &t;
  t.submit([] { return 42; }).result();
  // Exit handlers run in reverse order: ShutdownAtExit, RunLast, then the
  // static executor's destructor.
  std::atexit(RunLast);
  std::atexit(ShutdownAtExit);
  return 0;
}

// test_hang_gh83386: shutdown(wait=false) with a running call; exiting does
// not hang and the call completes.
int ShutdownNoWait() {
  static cf::ThreadPoolExecutor t(3);
  t.submit(SleepAndPrint, 0.2, std::string("apple"));
  t.shutdown(/*wait=*/false);
  return 0;
}

// test_cancel_futures_wait_false: shutdown(wait=false, cancel_futures=true)
// right after submit; the call either ran or was cancelled (gh-116682).
int CancelFuturesNoWait() {
  static cf::ThreadPoolExecutor t;
  t.submit(SleepAndPrint, 0.1, std::string("apple"));
  t.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <mode>\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  if (std::strcmp(mode, "interpreter_shutdown") == 0) return InterpreterShutdown();
  if (std::strcmp(mode, "submit_after_shutdown_at_exit") == 0) {
    return SubmitAfterShutdownAtExit();
  }
  if (std::strcmp(mode, "shutdown_no_wait") == 0) return ShutdownNoWait();
  if (std::strcmp(mode, "cancel_futures_no_wait") == 0) return CancelFuturesNoWait();
  std::fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
