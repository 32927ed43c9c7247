// Executor.submit and construction: the submit half of CPython's ExecutorTest
// (Lib/test/test_concurrent_futures/executor.py), run on the thread pool as
// ThreadPoolExecutorTest does (worker_count = 5).
#include <functional>
#include <latch>
#include <memory>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/executors/test_util.h"

namespace {

using cf_executor_test::PollUntil;

constexpr int kWorkerCount = 5;  // CPython's ExecutorMixin.worker_count

int Pow(int base, int exp) {
  int r = 1;
  for (int i = 0; i < exp; ++i) r *= base;
  return r;
}

int Mul(int x, int y) { return x * y; }

// Python's `capture(*args, **kwargs)`; keyword arguments become a struct with
// named members.
struct Kwargs {
  int self = 0;
  int fn = 0;
};
std::tuple<int, int, int> Capture(int arg, Kwargs kwargs) {
  return {arg, kwargs.self, kwargs.fn};
}

// Whether `executor.submit(args...)` compiles; Python raises TypeError for
// the calls that do not.
template <class... A>
concept CanSubmit = requires(cf::ThreadPoolExecutor& e, A&&... a) {
  e.submit(std::forward<A>(a)...);
};

// CPython: test_submit.
TEST(ExecutorSubmitTest, SubmitReturnsTheCallsResult) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  cf::Future<int> future = executor.submit(Pow, 2, 8);
  EXPECT_EQ(future.result(), 256);
  EXPECT_TRUE(future.done());
  EXPECT_FALSE(future.cancelled());
  EXPECT_FALSE(future.running());
}

// CPython: test_submit_keyword. Keyword arguments have no C++ spelling; the
// equivalents are a bound or lambda-wrapped call and a struct of named
// fields. Python's TypeErrors (no callable, a non-callable, wrong arguments)
// are compile errors.
TEST(ExecutorSubmitTest, SubmitPassesArgumentsThroughBindLambdasAndStructs) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  EXPECT_EQ(executor.submit(Mul, 2, 8).result(), 16);
  EXPECT_EQ(executor.submit(std::bind(Mul, std::placeholders::_1, 8), 2).result(),
            16);
  EXPECT_EQ(executor.submit([](int x) { return Mul(x, /*y=*/8); }, 2).result(),
            16);
  EXPECT_EQ(executor.submit(Capture, 1, Kwargs{.self = 2, .fn = 3}).result(),
            std::make_tuple(1, 2, 3));

  static_assert(CanSubmit<decltype(&Mul), int, int>);
  static_assert(!CanSubmit<>, "submit() without a callable must not compile");
  static_assert(!CanSubmit<int>, "submit(arg=1): not callable");
  static_assert(!CanSubmit<decltype(&Mul), int>, "missing argument");
  static_assert(!CanSubmit<decltype(&Capture), int, int, int>,
                "wrong argument types");
}

// Executor.submit's contract: arguments are copied at the call, like
// Python's bound arguments; std::ref passes a reference.
TEST(ExecutorSubmitTest, SubmitCopiesArgumentsAtTheCallUnlessStdRef) {
  std::binary_semaphore gate(0);
  cf::ThreadPoolExecutor executor(1);
  executor.submit([&gate] { gate.acquire(); });  // keeps the worker busy
  std::string text = "before";
  int counter = 0;
  cf::Future<std::string> copied =
      executor.submit([](const std::string& s) { return s; }, text);
  cf::Future<int> referenced = executor.submit(
      [](int& c) {
        c += 1;
        return c;
      },
      std::ref(counter));
  text = "after";
  gate.release();
  EXPECT_EQ(copied.result(), "before");
  EXPECT_EQ(referenced.result(), 1);
  EXPECT_EQ(counter, 1);
}

TEST(ExecutorSubmitTest, SubmitAcceptsMoveOnlyFunctionsArgumentsAndResults) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto owned = std::make_unique<int>(41);
  cf::Future<std::unique_ptr<int>> f = executor.submit(
      [p = std::make_unique<int>(1)](std::unique_ptr<int> q) {
        return std::make_unique<int>(*p + *q);
      },
      std::move(owned));
  std::unique_ptr<int> result = std::move(f.result());
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(*result, 42);
}

TEST(ExecutorSubmitTest, SubmitOfVoidFunctionGivesFutureVoid) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  std::atomic<int> calls{0};
  cf::Future<void> ok = executor.submit([&calls] { calls.fetch_add(1); });
  ok.result();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ok.exception(), nullptr);
  cf::Future<void> bad =
      executor.submit([] { throw std::out_of_range("void raised"); });
  EXPECT_THROW(bad.result(), std::out_of_range);
}

// Executor.submit through the abstract base (executor.h's `cf::Executor&`).
TEST(ExecutorSubmitTest, SubmitWorksThroughTheAbstractExecutor) {
  cf::ThreadPoolExecutor pool(kWorkerCount);
  cf::Executor& executor = pool;
  EXPECT_EQ(executor.submit(Pow, 3, 3).result(), 27);
  int total = 0;
  for (int r : executor.map(Mul, std::vector<int>{1, 2, 3},
                            std::vector<int>{4, 5, 6})) {
    total += r;
  }
  EXPECT_EQ(total, 4 + 10 + 18);
  executor.shutdown();
  EXPECT_THROW(executor.submit(Pow, 2, 2), std::runtime_error);
}

// CPython: test_max_workers_negative.
TEST(ExecutorSubmitTest, MaxWorkersZeroOrNegativeIsRejected) {
  for (int number : {0, -1}) {
    SCOPED_TRACE(number);
    try {
      cf::ThreadPoolExecutor executor(number);
      ADD_FAILURE() << "no exception for max_workers=" << number;
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "max_workers must be greater than 0");
    }
    try {
      cf::ThreadPoolExecutor executor({.max_workers = number});
      ADD_FAILURE() << "no exception for .max_workers=" << number;
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(), "max_workers must be greater than 0");
    }
  }
}

// CPython: test_no_stale_references (issue #16284). Python submits the bound
// method `my_object.my_method` and discards the future; the object must be
// collected. Here the object is a shared_ptr captured by the callable, and
// another one passed as an argument.
TEST(ExecutorSubmitTest, NoStaleReferencesToFunctionOrArgumentsAfterTheCall) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto my_object = std::make_shared<int>(1);
  auto my_arg = std::make_shared<int>(2);
  std::weak_ptr<int> object_ref = my_object;
  std::weak_ptr<int> arg_ref = my_arg;
  // Deliberately discarding the future.
  executor.submit([my_object](const std::shared_ptr<int>& a) { return *my_object + *a; },
                  my_arg);
  my_object.reset();
  my_arg.reset();
  EXPECT_TRUE(PollUntil([&] { return object_ref.expired(); }))
      << "stale reference to the function not released";
  EXPECT_TRUE(PollUntil([&] { return arg_ref.expired(); }))
      << "stale reference to the argument not released";
}

// Stronger than Python (work_item.h): the call's function and arguments are
// destroyed before its result is published, so they are gone once result()
// returns even though the future is still held.
TEST(ExecutorSubmitTest, FunctionAndArgumentsAreReleasedBeforeResultIsVisible) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  auto fn_state = std::make_shared<int>(20);
  auto arg = std::make_shared<int>(22);
  std::weak_ptr<int> fn_ref = fn_state, arg_ref = arg;
  cf::Future<int> f = executor.submit(
      [fn_state](std::shared_ptr<int> a) { return *fn_state + *a; },
      std::move(arg));
  fn_state.reset();
  EXPECT_EQ(f.result(), 42);
  EXPECT_TRUE(fn_ref.expired());
  EXPECT_TRUE(arg_ref.expired());
}

class EmptyMessageError : public std::exception {
 public:
  const char* what() const noexcept override { return ""; }
};

// CPython: test_swallows_falsey_exceptions (gh-132063). Python's "falsey"
// exceptions become exceptions that look empty in C++: an empty what(), and
// thrown values that are not std::exceptions at all, including 0 and false.
TEST(ExecutorSubmitTest, EmptyLookingExceptionsStillPropagate) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  EXPECT_THROW(executor.submit([]() -> int { throw EmptyMessageError(); }).result(),
               EmptyMessageError);
  EXPECT_THROW(executor.submit([]() -> int { throw std::runtime_error(""); }).result(),
               std::runtime_error);
  EXPECT_THROW(executor.submit([]() -> int { throw 0; }).result(), int);
  EXPECT_THROW(executor.submit([]() -> int { throw false; }).result(), bool);
  cf::Future<int> f = executor.submit([]() -> int { throw 0; });
  EXPECT_NE(f.exception(), nullptr);
  try {
    f.result();
    ADD_FAILURE() << "result() returned";
  } catch (int value) {
    EXPECT_EQ(value, 0);
  }
}

// _base.py result(): "re-raises the stored exception object (the same
// instance)", every time it is asked.
TEST(ExecutorSubmitTest, ResultRethrowsTheSameExceptionObjectEachTime) {
  cf::ThreadPoolExecutor executor(kWorkerCount);
  cf::Future<int> f =
      executor.submit([]() -> int { throw std::domain_error("once"); });
  const std::exception* first = nullptr;
  const std::exception* second = nullptr;
  try {
    f.result();
  } catch (const std::domain_error& e) {
    first = &e;
    EXPECT_STREQ(e.what(), "once");
  }
  try {
    f.result();
  } catch (const std::domain_error& e) {
    second = &e;
  }
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first, second);
  std::exception_ptr e = f.exception();
  ASSERT_NE(e, nullptr);
  try {
    std::rethrow_exception(e);
  } catch (const std::domain_error& ex) {
    EXPECT_EQ(&ex, first);
  }
}

// Future.cancel() on a queued executor call: the call never runs, result()
// raises CancelledError; a running call cannot be cancelled.
TEST(ExecutorSubmitTest, QueuedCallCanBeCancelledRunningCallCannot) {
  std::binary_semaphore gate(0);
  std::binary_semaphore started(0);
  cf::ThreadPoolExecutor executor(1);
  cf::Future<int> running = executor.submit([&] {
    started.release();
    gate.acquire();
    return 1;
  });
  std::atomic<bool> queued_ran{false};
  cf::Future<int> queued = executor.submit([&] {
    queued_ran = true;
    return 2;
  });
  started.acquire();
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(running.cancel());
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  gate.release();
  EXPECT_EQ(running.result(), 1);
  EXPECT_THROW(queued.result(), cf::CancelledError);
  EXPECT_THROW(queued.exception(), cf::CancelledError);
  executor.shutdown(/*wait=*/true);
  EXPECT_FALSE(queued_ran.load());
}

// result(timeout) on an executor call that is still running raises
// TimeoutError and leaves the call alone.
TEST(ExecutorSubmitTest, ResultTimeoutDoesNotAffectTheCall) {
  std::binary_semaphore gate(0);
  cf::ThreadPoolExecutor executor(kWorkerCount);
  cf::Future<int> f = executor.submit([&] {
    gate.acquire();
    return 7;
  });
  EXPECT_THROW(f.result(absl::Milliseconds(20)), cf::TimeoutError);
  EXPECT_THROW(f.result(absl::ZeroDuration()), cf::TimeoutError);
  EXPECT_THROW(f.exception(absl::Milliseconds(1)), cf::TimeoutError);
  EXPECT_FALSE(f.done());
  gate.release();
  EXPECT_EQ(f.result(), 7);
}

}  // namespace
