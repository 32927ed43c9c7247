// A worker runs only entry points this program instantiated: a frame that
// names anything else (here libc's _exit, with the right key) is refused,
// and the worker exits saying why instead of making the call.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "cf.h"
#include "executors/transport/child_exit.h"
#include "executors/transport/code_address.h"
#include "executors/transport/frame.h"
#include "executors/transport/process_worker.h"
#include "executors/transport/remote_call.h"
#include "gtest/gtest.h"

namespace {

namespace internal = cf::internal;

int Twice(int x) { return 2 * x; }

// Runs a worker in a child on one end of a socketpair, sends it `payload`
// as a task, and returns the child's wait status and the worker's answer.
struct Outcome {
  int status = 0;
  std::string answer;  // the frames it sent back
};

Outcome RunOneCall(const std::string& payload) {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const internal::FrameKey key = internal::FrameKey::Random();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    internal::RunWorker({.fd = fds[1], .key = key, .max_payload = 1 << 20});
  }
  close(fds[1]);
  std::string frames;
  internal::AppendFrame(key, internal::FrameKind::kTask, 1, payload, &frames);
  internal::AppendFrame(key, internal::FrameKind::kShutdown, 0, {}, &frames);
  EXPECT_EQ(write(fds[0], frames.data(), frames.size()),
            static_cast<ssize_t>(frames.size()));
  Outcome outcome;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) outcome.answer.append(buf, n);
  close(fds[0]);
  waitpid(pid, &outcome.status, 0);
  return outcome;
}

std::string EncodeAddress(std::uintptr_t address) {
  std::optional<internal::CodeAddress> code = internal::DescribeAddress(address);
  EXPECT_TRUE(code.has_value());
  return internal::EncodeValue(code.value_or(internal::CodeAddress{}));
}

TEST(EntryCheckTest, WorkerRefusesAnEntryThisProgramNeverInstantiated) {
  // _exit(42) has the shape of an entry's first argument, and lies in code.
  const std::string payload =
      EncodeAddress(reinterpret_cast<std::uintptr_t>(&_exit)) +
      internal::EncodeValue(internal::CodeAddress{}) +
      internal::EncodeValue(42);
  const Outcome outcome = RunOneCall(payload);
  ASSERT_TRUE(WIFEXITED(outcome.status)) << outcome.status;
  EXPECT_NE(WEXITSTATUS(outcome.status), 42) << "the worker made the call";
  EXPECT_EQ(WEXITSTATUS(outcome.status), internal::kWorkerExitRefusedCall);
  EXPECT_TRUE(outcome.answer.empty()) << "a refused call is never answered";
  EXPECT_NE(internal::DescribeStatus(outcome.status).find("refused a call"),
            std::string::npos);
}

TEST(EntryCheckTest, WorkerRunsAnEntryThisProgramInstantiated) {
  std::string payload;
  internal::EncodeCall<int>(&Twice, std::tuple<int>(21), &payload);
  const Outcome outcome = RunOneCall(payload);
  ASSERT_TRUE(WIFEXITED(outcome.status));
  EXPECT_EQ(WEXITSTATUS(outcome.status), internal::kWorkerExitOk);
  EXPECT_FALSE(outcome.answer.empty());
}

}  // namespace
