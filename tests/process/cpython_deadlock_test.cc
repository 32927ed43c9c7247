// Ports of CPython's Lib/test/test_concurrent_futures/test_deadlock.py
// (ExecutorDeadlockTest) to cf::ProcessPoolExecutor, once per start method:
// crashes, exits and errors at every step of a call's trip (serializing the
// call in the parent, deserializing it in the worker, running it,
// serializing the result, deserializing it in the parent) end in an error on
// the future, never in a hang.
//
// Python's pickling hooks are cereal save()/load() functions that throw,
// crash (raise(SIGSEGV), Python's faulthandler._sigsegv) or exit. Python's
// sys.exit() is std::exit(1): in a worker it ends the process (running its
// exit handlers), which breaks the pool with BrokenProcessPool where Python
// propagates SystemExit to the future. Where Python breaks the pool only
// because it cannot tell which call a (de)serialization failure belongs to,
// cf fails that call alone and the pool goes on; those tests say so.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/cpython_test_util.h"
#include "tests/process/process_test_util.h"

namespace {

using cf_process_test::kDeadlockTimeout;
using cf_process_test::kSanitized;
using cf_process_test::kShortTimeout;
using cf_process_test::RunWithin;
using ::testing::HasSubstr;

// Python's faulthandler._sigsegv().
void Crash() {
  raise(SIGSEGV);
  std::abort();  // in case SIGSEGV is ignored
}

// pickle.PicklingError / pickle.UnpicklingError.
struct PicklingError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct UnpicklingError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// SystemExit is a BaseException, not an Exception: the closest C++ throw is
// an object that is not a std::exception.
struct SystemExit {
  int code = 1;
};

// Python's ErrorAtPickle / ErrorAtUnpickle / CrashAtPickle / CrashAtUnpickle
// / ExitAtPickle / ExitAtUnpickle, as cereal hooks.
struct ErrorAtSave {
  template <class Archive>
  void save(Archive&) const {
    throw PicklingError("Error in pickle");
  }
  template <class Archive>
  void load(Archive&) {}
};
struct ErrorAtLoad {
  template <class Archive>
  void save(Archive&) const {}
  template <class Archive>
  void load(Archive&) {
    throw UnpicklingError("Error in unpickle");
  }
};
struct CrashAtSave {
  template <class Archive>
  void save(Archive&) const {
    Crash();
  }
  template <class Archive>
  void load(Archive&) {}
};
struct CrashAtLoad {
  template <class Archive>
  void save(Archive&) const {}
  template <class Archive>
  void load(Archive&) {
    Crash();
  }
};
struct ExitAtSave {
  template <class Archive>
  void save(Archive&) const {
    std::exit(1);
  }
  template <class Archive>
  void load(Archive&) {}
};
struct ExitAtLoad {
  template <class Archive>
  void save(Archive&) const {}
  template <class Archive>
  void load(Archive&) {
    std::exit(1);
  }
};
// The parent's stand-in for ExitAtUnpickle (see
// NonStandardThrowWhileDeserializingTheResultFailsThatCallOnly).
struct SystemExitAtLoad {
  template <class Archive>
  void save(Archive&) const {}
  template <class Archive>
  void load(Archive&) {
    throw SystemExit{1};
  }
};

// --- Functions run in the workers -------------------------------------------

// Python's id(obj): takes the argument, returns something.
template <class T>
int Id(T) {
  return 0;
}
// Python's _return_instance(cls).
template <class T>
T ReturnInstance() {
  return T{};
}
int CrashNow() {
  Crash();
  return 0;
}
// Python's _crash(delay=.1).
int CrashAfter(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  Crash();
  return 0;
}
// Python's _crash_with_data(data).
int CrashWithData(std::string) {
  Crash();
  return 0;
}
// Python's _exit(): sys.exit(1).
int ExitNow() { std::exit(1); }
// Python's _raise_error(RuntimeError).
int RaiseRuntimeError() { throw std::runtime_error("raised in the worker"); }
int Mul(int x, int y) { return x * y; }
int Identity(int x) { return x; }

// A fresh two-worker pool per test (test_deadlock.py's _check_error).
class CpythonDeadlockTest : public ::testing::TestWithParam<cf::StartMethod> {
 protected:
  void TearDown() override { DestroyPool(); }
  void DestroyPool() { executor_.reset(); }

  cf::ProcessPoolExecutor& executor() {
    if (!executor_) {
      executor_ = std::make_unique<cf::ProcessPoolExecutor>(
          cf::ProcessPoolOptions{.max_workers = 2, .start_method = GetParam()});
    }
    return *executor_;
  }

  // Submits `fn(args...)` and returns the exception result() raises within
  // kDeadlockTimeout; a timeout is reported as a deadlock (and the workers
  // are killed so that the test can end), no exception as a failure.
  template <class F, class... Args>
  std::exception_ptr FailureOf(F fn, Args... args) {
    cf::Future<std::invoke_result_t<F, Args...>> res =
        executor().submit(fn, std::move(args)...);
    try {
      res.result(kDeadlockTimeout);
    } catch (const cf::TimeoutError&) {
      executor().kill_workers();
      ADD_FAILURE() << "Executor deadlock: no outcome within "
                    << absl::FormatDuration(kDeadlockTimeout);
      return nullptr;
    } catch (...) {
      return std::current_exception();
    }
    ADD_FAILURE() << "the call returned normally";
    return nullptr;
  }

  // The pool is still usable.
  void ExpectUsable() {
    EXPECT_EQ(executor().submit(Mul, 6, 7).result(kShortTimeout), 42);
  }

 private:
  std::unique_ptr<cf::ProcessPoolExecutor> executor_;
};

// Rethrows `e` for EXPECT_THROW & co; fails the test on a null one.
void Rethrow(const std::exception_ptr& e) {
  if (e == nullptr) throw std::logic_error("no exception to rethrow");
  std::rethrow_exception(e);
}

// The BrokenProcessPool message of `e` (which must be one).
std::string BrokenMessage(const std::exception_ptr& e) {
  try {
    Rethrow(e);
  } catch (const cf::BrokenProcessPool& broken) {
    return broken.what();
  } catch (const std::exception& other) {
    ADD_FAILURE() << "expected cf::BrokenProcessPool, got: " << other.what();
  } catch (...) {
    ADD_FAILURE() << "expected cf::BrokenProcessPool, got a non-std exception";
  }
  return "";
}

// CPython test_error_at_task_pickle: the argument fails to serialize in the
// parent: that future gets the PicklingError, and the pool is not broken.
TEST_P(CpythonDeadlockTest, ErrorSerializingTheCallFailsThatCallOnly) {
  std::exception_ptr e = FailureOf(Id<ErrorAtSave>, ErrorAtSave{});
  try {
    Rethrow(e);
  } catch (const PicklingError& error) {
    EXPECT_STREQ(error.what(), "Error in pickle");
  }
  ExpectUsable();
}

// CPython test_exit_at_task_unpickle: sys.exit while the worker deserializes
// the call -> BrokenProcessPool.
TEST_P(CpythonDeadlockTest, ExitDeserializingTheCallBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(Id<ExitAtLoad>, ExitAtLoad{}));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("exited with code 1"));
  }
}

// CPython test_error_at_task_unpickle. Python: BrokenProcessPool (the
// UnpicklingError escapes the worker's loop and kills it). cf's worker
// reports a call it cannot deserialize like an exception the call raised:
// that future fails with the error (a user type, so a cf::RemoteError naming
// it) and the pool goes on. Either way: an error, no deadlock.
TEST_P(CpythonDeadlockTest, ErrorDeserializingTheCallFailsThatCallOnly) {
  std::exception_ptr e = FailureOf(Id<ErrorAtLoad>, ErrorAtLoad{});
  try {
    Rethrow(e);
  } catch (const cf::RemoteError& error) {
    EXPECT_THAT(error.type_name(), HasSubstr("UnpicklingError"));
    EXPECT_EQ(error.message(), "Error in unpickle");
  }
  ExpectUsable();
}

// CPython test_crash_at_task_unpickle: a segfault while the worker
// deserializes the call -> BrokenProcessPool.
TEST_P(CpythonDeadlockTest, CrashDeserializingTheCallBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(Id<CrashAtLoad>, CrashAtLoad{}));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("SIGSEGV"));
  }
}

// CPython test_crash_during_func_exec_on_worker.
TEST_P(CpythonDeadlockTest, CrashRunningTheCallBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(CrashNow));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("SIGSEGV"));
  }
}

// CPython test_exit_during_func_exec_on_worker. Python: the task's
// SystemExit is caught and set on the future. C++'s std::exit(1) ends the
// worker process (there is nothing to catch), so the pool breaks and says
// how the worker ended.
TEST_P(CpythonDeadlockTest, ExitRunningTheCallBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(ExitNow));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("exited with code 1"));
  }
}

// CPython test_error_during_func_exec_on_worker: the call's RuntimeError.
TEST_P(CpythonDeadlockTest, ErrorRunningTheCallFailsThatCall) {
  std::exception_ptr e = FailureOf(RaiseRuntimeError);
  try {
    Rethrow(e);
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "raised in the worker");
  }
  ExpectUsable();
}

// CPython test_crash_during_result_pickle_on_worker.
TEST_P(CpythonDeadlockTest, CrashSerializingTheResultBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(ReturnInstance<CrashAtSave>));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("SIGSEGV"));
  }
}

// CPython test_exit_during_result_pickle_on_worker. Python: SystemExit on
// the future; here std::exit(1) ends the worker: BrokenProcessPool (see
// ExitRunningTheCallBreaksThePool).
TEST_P(CpythonDeadlockTest, ExitSerializingTheResultBreaksThePool) {
  const std::string message = BrokenMessage(FailureOf(ReturnInstance<ExitAtSave>));
  EXPECT_THAT(message, HasSubstr("terminated abruptly"));
  if (!kSanitized) {
    EXPECT_THAT(message, HasSubstr("exited with code 1"));
  }
}

// CPython test_error_during_result_pickle_on_worker: the PicklingError comes
// back on the future (a user type, so as a cf::RemoteError naming it).
TEST_P(CpythonDeadlockTest, ErrorSerializingTheResultFailsThatCall) {
  std::exception_ptr e = FailureOf(ReturnInstance<ErrorAtSave>);
  try {
    Rethrow(e);
  } catch (const cf::RemoteError& error) {
    EXPECT_THAT(error.type_name(), HasSubstr("PicklingError"));
    EXPECT_EQ(error.message(), "Error in pickle");
  }
  ExpectUsable();
}

// CPython test_error_during_result_unpickle_in_result_handler. Python:
// BrokenProcessPool (its result handler cannot tell whose result failed).
// cf knows whose it is: that future fails with the UnpicklingError, thrown
// here in the parent, and the pool goes on.
TEST_P(CpythonDeadlockTest, ErrorDeserializingTheResultFailsThatCallOnly) {
  std::exception_ptr e = FailureOf(ReturnInstance<ErrorAtLoad>);
  try {
    Rethrow(e);
  } catch (const UnpicklingError& error) {
    EXPECT_STREQ(error.what(), "Error in unpickle");
  }
  ExpectUsable();
}

// CPython test_exit_during_result_unpickle_in_result_handler. Python's
// sys.exit() in its result handler thread raises SystemExit there, which
// breaks the pool. exit() in the parent would end the test, so the stand-in
// is what SystemExit is to Python, an exception outside the std::exception
// hierarchy, thrown while the parent deserializes the result: it must not
// take the pool's manager down; as above, cf fails that call alone.
TEST_P(CpythonDeadlockTest, NonStandardThrowWhileDeserializingTheResultFailsThatCallOnly) {
  std::exception_ptr e = FailureOf(ReturnInstance<SystemExitAtLoad>);
  try {
    Rethrow(e);
  } catch (const SystemExit& exit) {
    EXPECT_EQ(exit.code, 1);
  }
  ExpectUsable();
}

// CPython test_shutdown_deadlock: a worker crashing 0.1 s into
// shutdown(wait=True) does not hang it; the call gets BrokenProcessPool.
TEST_P(CpythonDeadlockTest, CrashDuringShutdownDoesNotHangIt) {
  cf::Future<int> f = executor().submit(CrashAfter, 100);
  RunWithin(kDeadlockTimeout, "shutdown(wait=true)", [&] { executor().shutdown(); });
  EXPECT_THROW(f.result(), cf::BrokenProcessPool);
}

// CPython test_shutdown_deadlock_pickle (bpo-39104): after a warm-up call, a
// call whose argument fails to serialize, then shutdown(wait=false): the
// call gets the PicklingError and the pool still shuts down (its manager
// thread is joined by the destructor).
TEST_P(CpythonDeadlockTest, SerializationErrorThenShutdownNoWaitDoesNotHang) {
  EXPECT_EQ(executor().submit(Identity, 42).result(kShortTimeout), 42);
  cf::Future<int> f = executor().submit(Id<ErrorAtSave>, ErrorAtSave{});
  executor().shutdown(/*wait=*/false);
  EXPECT_THROW(f.result(kShortTimeout), PicklingError);
  RunWithin(kDeadlockTimeout, "destroying the pool", [&] { DestroyPool(); });
}

// CPython test_crash_big_data (gh-94777): workers crashing while large
// arguments are being written to them: BrokenProcessPool, not a hang.
// (support.PIPE_MAX_SIZE is 4 MiB + 1.)
TEST_P(CpythonDeadlockTest, CrashWithLargeArgumentsInFlightBreaksThePool) {
  const std::vector<std::string> data(10, std::string((4 << 20) + 1, 'a'));
  RunWithin(kDeadlockTimeout, "map()", [&] {
    bool broken = false;
    try {
      // map() itself raises if the pool breaks while it is still submitting.
      for (int r : executor().map(CrashWithData, data)) (void)r;
    } catch (const cf::BrokenProcessPool&) {
      broken = true;
    }
    EXPECT_TRUE(broken) << "expected cf::BrokenProcessPool";
  });
}

// CPython test_gh105829_should_not_deadlock_if_wakeup_pipe_full: 100 calls
// submitted before the pool's manager catches up all complete. (Python slows
// its manager thread down and makes the wakeup pipe block; cf's wakeup is an
// eventfd that never blocks, so this checks the outcome only.)
TEST_P(CpythonDeadlockTest, ManySubmitsBeforeTheManagerRunsDoNotDeadlock) {
  RunWithin(kDeadlockTimeout, "map(int, range(100))", [&] {
    int n = 0;
    for (int r : executor().map(Identity, std::views::iota(0, 100))) {
      EXPECT_EQ(r, n);
      ++n;
    }
    EXPECT_EQ(n, 100);
  });
}

CF_INSTANTIATE_FOR_START_METHODS(CpythonDeadlockTest);

}  // namespace
