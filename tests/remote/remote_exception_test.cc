// Exceptions captured "in a worker", sent through cereal and rebuilt: same
// type for the standard and cf ones, RemoteError otherwise, and the worker's
// pid, type, message and throw site always available.
//
// The throw-site checks look for the names of noinline functions, so they
// hold in fastbuild and the sanitizer configs; under -c opt with inlining
// across the board a frame may disappear.
#include "executors/transport/remote_exception.h"

#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "absl/functional/function_ref.h"
#include "cereal/archives/binary.hpp"
#include "executors/remote_error.h"
#include "futures/errors.h"
#include "futures/internal/future_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cf_remote_test {

class MyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cf_remote_test

namespace cf::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNotRecorded[] = "not recorded";

template <class E>
E Make() {
  if constexpr (std::is_constructible_v<E, std::string>) {
    return E("message of " + TypeName(typeid(E)));
  } else {
    return E();
  }
}

template <class E>
[[noreturn, gnu::noinline]] void RemoteTestThrowSite() {
  throw Make<E>();
}

[[noreturn, gnu::noinline]] void RemoteTestThrowInt() { throw 42; }

[[gnu::noinline]] int RemoteTestVectorAt() {
  std::vector<int> v;
  return v.at(3);
}

// What the worker does around a task.
RemoteException CaptureInWorker(absl::FunctionRef<void()> task) {
  ScopedThrowCapture capture;
  try {
    task();
  } catch (...) {
    return CaptureCurrentException();
  }
  ADD_FAILURE() << "the task did not throw";
  return {};
}

RemoteException RoundTrip(const RemoteException& sent) {
  std::stringstream stream;
  {
    cereal::BinaryOutputArchive archive(stream);
    archive(sent);
  }
  std::istringstream bytes(stream.str());
  RemoteException received;
  {
    cereal::BinaryInputArchive archive(bytes);
    archive(received);
  }
  return received;
}

// What std::rethrow_if_nested throws for `e`, or null.
std::exception_ptr NestedOf(const std::exception& e) {
  try {
    std::rethrow_if_nested(e);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

void ExpectNestedTraceback(const std::exception& e, const std::string& type,
                           const std::string& message) {
  std::exception_ptr nested = NestedOf(e);
  ASSERT_NE(nested, nullptr);
  try {
    std::rethrow_exception(nested);
  } catch (const RemoteTraceback& cause) {
    EXPECT_EQ(cause.pid(), getpid());
    EXPECT_EQ(cause.type_name(), type);
    EXPECT_EQ(cause.message(), message);
  } catch (...) {
    ADD_FAILURE() << "nested " << ExceptionTypeName(nested);
  }
}

template <class E>
class RebuildTest : public ::testing::Test {};

using RebuiltTypes =
    ::testing::Types<std::exception, std::bad_alloc, std::logic_error,
                     std::invalid_argument, std::domain_error,
                     std::length_error, std::out_of_range, std::runtime_error,
                     std::range_error, std::overflow_error,
                     std::underflow_error, Error, CancelledError, TimeoutError,
                     InvalidStateError, BrokenExecutor, BrokenThreadPool>;
TYPED_TEST_SUITE(RebuildTest, RebuiltTypes);

TYPED_TEST(RebuildTest, SameTypeAndMessageWithTheWorkersTraceback) {
  using E = TypeParam;
  const std::string what = Make<E>().what();
  std::exception_ptr rebuilt = RebuildException(
      RoundTrip(CaptureInWorker([] { RemoteTestThrowSite<E>(); })));
  try {
    std::rethrow_exception(rebuilt);
  } catch (const E& e) {
    EXPECT_STREQ(e.what(), what.c_str());
    EXPECT_EQ(dynamic_cast<const RemoteError*>(&e), nullptr);
    std::optional<RemoteTraceback> remote = RemoteTracebackOf(e);
    ASSERT_TRUE(remote.has_value());
    EXPECT_EQ(remote->pid(), getpid());
    EXPECT_EQ(remote->type_name(), TypeName(typeid(E)));
    EXPECT_EQ(remote->message(), what);
    EXPECT_THAT(remote->traceback(), HasSubstr("RemoteTestThrowSite"));
    EXPECT_THAT(remote->traceback(), Not(HasSubstr(kNotRecorded)));
    ExpectNestedTraceback(e, TypeName(typeid(E)), what);
  } catch (...) {
    ADD_FAILURE() << "rebuilt as " << ExceptionTypeName(rebuilt);
  }
}

TEST(RemoteExceptionTest, SubclassOfStandardTypeBecomesRemoteError) {
  std::exception_ptr rebuilt =
      RebuildException(RoundTrip(CaptureInWorker([] {
        RemoteTestThrowSite<cf_remote_test::MyError>();
      })));
  try {
    std::rethrow_exception(rebuilt);
  } catch (const RemoteError& e) {
    const std::string message = "message of cf_remote_test::MyError";
    EXPECT_EQ(e.type_name(), "cf_remote_test::MyError");
    EXPECT_EQ(e.message(), message);
    EXPECT_EQ(std::string(e.what()), "cf_remote_test::MyError: " + message);
    EXPECT_EQ(e.pid(), getpid());
    EXPECT_THAT(e.traceback(), HasSubstr("RemoteTestThrowSite"));
    ASSERT_TRUE(RemoteTracebackOf(e).has_value());
    EXPECT_EQ(RemoteTracebackOf(e)->traceback(), e.traceback());
    ExpectNestedTraceback(e, "cf_remote_test::MyError", message);
  } catch (...) {
    ADD_FAILURE() << "rebuilt as " << ExceptionTypeName(rebuilt);
  }
}

TEST(RemoteExceptionTest, NonStdExceptionBecomesRemoteError) {
  std::exception_ptr rebuilt =
      RebuildException(RoundTrip(CaptureInWorker(RemoteTestThrowInt)));
  try {
    std::rethrow_exception(rebuilt);
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.message(), "");
    EXPECT_STREQ(e.what(), "int");
    EXPECT_THAT(e.traceback(), HasSubstr("RemoteTestThrowInt"));
    ExpectNestedTraceback(e, "int", "");
  } catch (...) {
    ADD_FAILURE() << "rebuilt as " << ExceptionTypeName(rebuilt);
  }
}

// Fails if the __cxa_throw replacement is not in effect: by the time the
// exception is caught, the throwing frames are gone from the stack.
TEST(RemoteExceptionTest, ThrowSiteInsideTheStandardLibraryIsRecorded) {
  RemoteException e =
      CaptureInWorker([] { static_cast<void>(RemoteTestVectorAt()); });
  EXPECT_EQ(e.type_name, "std::out_of_range");
  EXPECT_THAT(e.traceback, HasSubstr("RemoteTestVectorAt"));
  EXPECT_THAT(e.traceback, Not(HasSubstr(kNotRecorded)));
}

[[gnu::noinline]] RemoteException RemoteTestCatchSite(
    absl::FunctionRef<void()> task) {
  try {
    task();
  } catch (...) {
    return CaptureCurrentException();
  }
  return {};
}

TEST(RemoteExceptionTest, OutsideCaptureFallsBackToTheCatchSite) {
  RemoteException e =
      RemoteTestCatchSite([] { RemoteTestThrowSite<std::range_error>(); });
  EXPECT_EQ(e.type_name, "std::range_error");
  EXPECT_EQ(e.message, "message of std::range_error");
  EXPECT_THAT(e.traceback, HasSubstr(kNotRecorded));
  EXPECT_THAT(e.traceback, HasSubstr("RemoteTestCatchSite"));
  EXPECT_THAT(e.traceback, Not(HasSubstr("RemoteTestThrowSite")));
  // Still rebuilt as itself.
  EXPECT_THROW(std::rethrow_exception(RebuildException(RoundTrip(e))),
               std::range_error);
}

TEST(RemoteExceptionTest, AnEarlierThrowOfAnotherTypeIsNotBlamed) {
  std::exception_ptr transported =
      std::make_exception_ptr(std::overflow_error("from another thread"));
  RemoteException e = CaptureInWorker([&] {
    try {
      RemoteTestThrowSite<std::logic_error>();
    } catch (const std::logic_error&) {
    }
    // Not a throw expression: does not go through __cxa_throw.
    std::rethrow_exception(transported);
  });
  EXPECT_EQ(e.type_name, "std::overflow_error");
  EXPECT_THAT(e.traceback, HasSubstr(kNotRecorded));
  EXPECT_THAT(e.traceback, Not(HasSubstr("RemoteTestThrowSite")));
}

TEST(RemoteExceptionTest, AThrowFromAnEarlierCaptureIsNotBlamed) {
  CaptureInWorker([] { RemoteTestThrowSite<std::length_error>(); });
  std::exception_ptr transported =
      std::make_exception_ptr(std::length_error("from another thread"));
  RemoteException e =
      CaptureInWorker([&] { std::rethrow_exception(transported); });
  EXPECT_THAT(e.traceback, HasSubstr(kNotRecorded));
  EXPECT_THAT(e.traceback, Not(HasSubstr("RemoteTestThrowSite")));
}

TEST(RemoteExceptionTest, FromAForkedWorker) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    std::stringstream stream;
    {
      cereal::BinaryOutputArchive archive(stream);
      archive(CaptureInWorker([] { RemoteTestThrowSite<std::domain_error>(); }));
    }
    const std::string bytes = stream.str();
    _exit(write(fds[1], bytes.data(), bytes.size()) ==
                  static_cast<ssize_t>(bytes.size())
              ? 0
              : 1);
  }
  close(fds[1]);
  std::string bytes;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) {
    bytes.append(buffer, n);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  std::istringstream in(bytes);
  RemoteException received;
  {
    cereal::BinaryInputArchive archive(in);
    archive(received);
  }
  try {
    std::rethrow_exception(RebuildException(received));
  } catch (const std::domain_error& e) {
    EXPECT_STREQ(e.what(), "message of std::domain_error");
    std::optional<RemoteTraceback> remote = RemoteTracebackOf(e);
    ASSERT_TRUE(remote.has_value());
    EXPECT_EQ(remote->pid(), child);
    EXPECT_THAT(remote->traceback(), HasSubstr("RemoteTestThrowSite"));
  }
}

TEST(RemoteTracebackTest, WhatReadsLikePython) {
  EXPECT_STREQ(RemoteTraceback(1234, "my::ParseError", "bad token",
                               "    #0 0x1 my::Parse()")
                   .what(),
               "my::ParseError: bad token (raised in process 1234)\n"
               "    #0 0x1 my::Parse()");
  EXPECT_STREQ(RemoteTraceback(7, "int", "", "    #0 0x1 f()").what(),
               "int (raised in process 7)\n    #0 0x1 f()");
}

TEST(RemoteTracebackTest, OfALocalExceptionIsNone) {
  EXPECT_FALSE(RemoteTracebackOf(std::runtime_error("local")).has_value());
  try {
    try {
      throw std::invalid_argument("inner");
    } catch (...) {
      std::throw_with_nested(std::runtime_error("outer"));
    }
  } catch (const std::runtime_error& e) {
    EXPECT_FALSE(RemoteTracebackOf(e).has_value());
  }
}

}  // namespace
}  // namespace cf::internal
