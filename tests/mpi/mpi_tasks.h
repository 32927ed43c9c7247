// Functions the MPI tests run on workers, and the main() every MPI test
// binary shares: the test environment (mpi_test_env.h), then cf::Init, which
// a spawned worker or a launch's serving rank never returns from.
#ifndef CF_TESTS_MPI_MPI_TASKS_H_
#define CF_TESTS_MPI_MPI_TASKS_H_

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace cf_test {

inline int Square(int x) { return x * x; }
inline int WorkerPid() { return static_cast<int>(getpid()); }
inline int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
inline int ThrowOutOfRange(int) { throw std::out_of_range("boom"); }

// A type only this program knows: it comes back as a cf::RemoteError.
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
inline int ThrowParseError(int) { throw ParseError("bad token"); }

// Set by the initializer in each worker, read by a task.
inline int& InitializedValue() {
  static int value = 0;
  return value;
}
inline void SetInitializedValue(int v) { InitializedValue() = v; }
inline int GetInitializedValue() { return InitializedValue(); }
inline void FailingInitializer() { throw std::runtime_error("no config"); }

inline int ExitNow(int code) { _exit(code); }

}  // namespace cf_test

#endif  // CF_TESTS_MPI_MPI_TASKS_H_
