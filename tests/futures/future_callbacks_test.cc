// Future::add_done_callback: callbacks see the finished future, run at once
// when it is already done, and an exception from one is reported on stderr
// without stopping the others.
// Ports the test_done_callback_* cases of
// Lib/test/test_concurrent_futures/test_future.py (FutureTests), plus the §1b
// add_done_callback/cancel rows (order, thread).
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/futures/future_fixtures.h"

namespace cf_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string WhatOf(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
}

// CPython: test_done_callback_with_result.
TEST(FutureCallbacksTest, CallbackAddedBeforeResultSeesTheResult) {
  int callback_result = 0;
  cf::Future<int> f;
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    callback_result = callback_future.result();
  });
  EXPECT_EQ(callback_result, 0);  // not called before completion
  f.set_result(5);
  EXPECT_EQ(callback_result, 5);
}

// CPython: test_done_callback_with_exception (Exception('test') ->
// std::runtime_error("test")).
TEST(FutureCallbacksTest, CallbackAddedBeforeExceptionSeesTheException) {
  std::exception_ptr callback_exception;
  cf::Future<int> f;
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    callback_exception = callback_future.exception();
  });
  f.set_exception(std::runtime_error("test"));
  ASSERT_NE(callback_exception, nullptr);
  EXPECT_EQ(WhatOf(callback_exception), "test");
}

// CPython: test_done_callback_with_cancel.
TEST(FutureCallbacksTest, CallbackAddedBeforeCancelSeesCancelled) {
  bool was_cancelled = false;
  cf::Future<int> f;
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    was_cancelled = callback_future.cancelled();
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(was_cancelled);
}

// CPython: test_done_callback_raises (Exception('doh!') ->
// std::runtime_error("doh!"); Python logs "Exception: doh!").
TEST(FutureCallbacksTest, RaisingCallbackIsReportedAndLaterCallbacksStillRun) {
  bool raising_was_called = false;
  bool fn_was_called = false;
  cf::Future<int> f;
  f.add_done_callback([&](const cf::Future<int>&) {
    raising_was_called = true;
    throw std::runtime_error("doh!");
  });
  f.add_done_callback([&](const cf::Future<int>&) { fn_was_called = true; });

  testing::internal::CaptureStderr();
  f.set_result(5);
  const std::string stderr_text = testing::internal::GetCapturedStderr();

  EXPECT_TRUE(raising_was_called);
  EXPECT_TRUE(fn_was_called);
  EXPECT_THAT(stderr_text, HasSubstr("std::runtime_error: doh!"));
  EXPECT_THAT(stderr_text,
              HasSubstr("exception calling callback for " + cf::to_string(f)));
  EXPECT_EQ(f.result(), 5);  // the callback's exception does not reach f
}

// CPython: test_done_callback_already_successful.
TEST(FutureCallbacksTest, CallbackAddedAfterResultRunsAtOnceWithTheResult) {
  int callback_result = 0;
  cf::Future<int> f;
  f.set_result(5);
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    callback_result = callback_future.result();
  });
  EXPECT_EQ(callback_result, 5);
}

// CPython: test_done_callback_already_failed.
TEST(FutureCallbacksTest, CallbackAddedAfterExceptionRunsAtOnceWithIt) {
  std::exception_ptr callback_exception;
  cf::Future<int> f;
  f.set_exception(std::runtime_error("test"));
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    callback_exception = callback_future.exception();
  });
  ASSERT_NE(callback_exception, nullptr);
  EXPECT_EQ(WhatOf(callback_exception), "test");
}

// CPython: test_done_callback_already_cancelled.
TEST(FutureCallbacksTest, CallbackAddedAfterCancelRunsAtOnceAndSeesCancelled) {
  bool was_cancelled = false;
  cf::Future<int> f;
  EXPECT_TRUE(f.cancel());
  f.add_done_callback([&](const cf::Future<int>& callback_future) {
    was_cancelled = callback_future.cancelled();
  });
  EXPECT_TRUE(was_cancelled);
}

// CPython: test_done_callback_raises_already_succeeded.
TEST(FutureCallbacksTest, RaisingCallbackOnAlreadyDoneFutureIsReported) {
  cf::Future<int> f;
  // Set the result first to simulate a future that runs instantly, so that
  // the callback runs immediately.
  f.set_result(5);

  testing::internal::CaptureStderr();
  f.add_done_callback(
      [](const cf::Future<int>&) { throw std::runtime_error("doh!"); });
  const std::string stderr_text = testing::internal::GetCapturedStderr();

  EXPECT_THAT(stderr_text, HasSubstr("exception calling callback for"));
  EXPECT_THAT(stderr_text, HasSubstr("doh!"));
  EXPECT_THAT(stderr_text,
              MatchesRegex("exception calling callback for <Future at "
                           "0x[0-9a-f]+ state=finished returned int>\n"
                           "std::runtime_error: doh!\n"));
}

// §1b add_done_callback: callbacks run in registration order, each once, and
// receive the future they were added to.
TEST(FutureCallbacksTest, CallbacksRunOnceInRegistrationOrderWithTheFuture) {
  cf::Future<int> f;
  std::vector<int> order;
  bool same_future = true;
  for (int i = 0; i < 5; ++i) {
    f.add_done_callback([&, i](const cf::Future<int>& g) {
      order.push_back(i);
      same_future = same_future && g == f;
    });
  }
  f.set_result(1);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_TRUE(same_future);
  EXPECT_THROW(f.set_result(2), cf::InvalidStateError);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));  // not run again
}

// §1b add_done_callback: a pending callback runs in the thread that completes
// the future.
TEST(FutureCallbacksTest, CallbackRunsInTheCompletingThread) {
  cf::Future<int> f;
  std::thread::id callback_thread;
  f.add_done_callback([&](const cf::Future<int>&) {
    callback_thread = std::this_thread::get_id();
  });
  std::thread::id setter_thread;
  std::thread t([&] {
    setter_thread = std::this_thread::get_id();
    f.set_result(1);
  });
  t.join();
  EXPECT_EQ(callback_thread, setter_thread);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
}

// §1b cancel(): cancelling a pending future runs its callbacks in the
// caller's thread; a cancel() that returns false runs nothing.
TEST(FutureCallbacksTest, CancelRunsCallbacksInTheCallersThreadOnce) {
  cf::Future<int> f;
  int calls = 0;
  std::thread::id callback_thread;
  f.add_done_callback([&](const cf::Future<int>&) {
    ++calls;
    callback_thread = std::this_thread::get_id();
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
  EXPECT_TRUE(f.cancel());  // already cancelled: no second run
  EXPECT_FALSE(f.set_running_or_notify_cancel());
  EXPECT_EQ(calls, 1);

  cf::Future<int> running = RunningFuture();
  bool ran = false;
  running.add_done_callback([&](const cf::Future<int>&) { ran = true; });
  EXPECT_FALSE(running.cancel());
  EXPECT_FALSE(ran);
  running.set_result(3);
  EXPECT_TRUE(ran);
}

// §1b add_done_callback on cf::Future<void>.
TEST(FutureCallbacksTest, VoidFutureCallbackSeesSuccess) {
  cf::Future<void> f;
  bool ok = false;
  f.add_done_callback([&](const cf::Future<void>& g) {
    ok = g.done() && g.exception() == nullptr;
  });
  f.set_result();
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace cf_test
