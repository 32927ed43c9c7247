// cf::Pipe and cf::Connection: Python's calls and messages in one process
// (duplex and one-way, EOF, closed handles, a too-long message), and across
// processes under every start method: seed 001's program, round trips, EOF
// once the child's end is closed everywhere, a writer killed mid-message
// ("got end of file during message", never a short message), a large
// message, and the error for a connection sent to a pool task.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"
#include "gtest/gtest.h"
#include "tests/mp/mp_test_util.h"

namespace {

using ::cf_mp_test::MessageOf;

// Seed 001's Pipe worker.
void Worker(std::string id, int base_num, cf::Connection<int> conn) {
  (void)id;
  int sub_total = 0;
  for (int i = 0; i < base_num; ++i) sub_total += 1;
  conn.send(sub_total);
  conn.close();
}

void Echo(cf::Connection<std::string> conn) {
  try {
    while (true) conn.send(conn.recv() + "!");
  } catch (const cf::EOFError&) {
  }
}

void SendForever(cf::Connection<std::string> conn) {
  conn.send_bytes(std::string(16 << 20, 'x'));  // blocks: nobody reads
}

void SendBig(cf::Connection<std::vector<int>> conn, int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  conn.send(v);
}

int UseInPool(cf::Connection<int> conn) { return conn.fileno(); }

TEST(PipeTest, DuplexSendRecvPollAndBytes) {
  auto [a, b] = cf::Pipe<std::string>();
  EXPECT_TRUE(a.readable());
  EXPECT_TRUE(a.writable());
  EXPECT_FALSE(b.poll());
  a.send("hello");
  EXPECT_TRUE(b.poll(absl::Seconds(1)));
  EXPECT_EQ(b.recv(), "hello");
  b.send("back");
  EXPECT_EQ(a.recv(), "back");
  a.send_bytes("raw");
  EXPECT_EQ(b.recv_bytes(), "raw");
  b.send_bytes(std::string(10, 'x'));
  b.send_bytes("next");
  EXPECT_EQ(MessageOf([&] { a.recv_bytes(5); }), "bad message length");
  EXPECT_EQ(a.recv_bytes(5), "next");  // the long one was dropped
}

TEST(PipeTest, EndOfStreamAndClosedHandles) {
  auto [a, b] = cf::Pipe<int>();
  a.send(1);
  a.close();
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(MessageOf([&] { a.send(2); }), "handle is closed");
  EXPECT_EQ(MessageOf([&] { a.recv(); }), "handle is closed");
  EXPECT_EQ(MessageOf([&] { (void)a.fileno(); }), "handle is closed");
  EXPECT_EQ(b.recv(), 1);  // what was sent before the close
  EXPECT_TRUE(b.poll());   // end of stream is "readable"
  EXPECT_THROW(b.recv(), cf::EOFError);
  EXPECT_EQ(MessageOf([&] { b.recv(); }), "");  // str(EOFError())
  EXPECT_THROW(b.send(3), cf::BrokenPipeError);
  EXPECT_EQ(MessageOf([&] { b.send(3); }), "[Errno 32] Broken pipe");
}

TEST(PipeTest, OneWayDirections) {
  auto [reader, writer] = cf::Pipe<int>(false);
  EXPECT_TRUE(reader.readable());
  EXPECT_FALSE(reader.writable());
  EXPECT_FALSE(writer.readable());
  EXPECT_TRUE(writer.writable());
  EXPECT_EQ(MessageOf([&] { reader.send(1); }), "connection is read-only");
  EXPECT_EQ(MessageOf([&] { writer.recv(); }), "connection is write-only");
  writer.send(5);
  EXPECT_EQ(reader.recv(), 5);
  reader.close();
  EXPECT_EQ(MessageOf([&] { writer.send(1); }), "[Errno 32] Broken pipe");
}

class CrossProcessPipeTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessOptions Options() { return {.start_method = GetParam()}; }
};

TEST_P(CrossProcessPipeTest, SeedProgramGetsTheChildsCount) {
  auto [parent_conn, child_conn] = cf::Pipe<int>();
  cf::Process p({.name = "child", .start_method = GetParam()}, Worker,
                std::string("child"), 10000, child_conn);
  p.start();
  p.join();
  EXPECT_EQ(parent_conn.recv(), 10000);
}

TEST_P(CrossProcessPipeTest, RoundTripsThenEndOfStream) {
  auto [mine, theirs] = cf::Pipe<std::string>();
  cf::Process p(Options(), Echo, theirs);
  p.start();
  theirs.close();  // as in Python: only the child holds that end now
  for (int i = 0; i < 100; ++i) {
    mine.send(std::to_string(i));
    EXPECT_EQ(mine.recv(), std::to_string(i) + "!");
  }
  mine.close();  // the child's recv sees EOF and it returns
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(CrossProcessPipeTest, TheChildsExitIsTheEndOfTheStream) {
  auto [mine, theirs] = cf::Pipe<int>();
  cf::Process p(Options(), Worker, std::string("w"), 3, theirs);
  p.start();
  theirs.close();
  EXPECT_EQ(mine.recv(), 3);
  EXPECT_THROW(mine.recv(), cf::EOFError);  // never a hang
  p.join();
}

TEST_P(CrossProcessPipeTest, AWriterKilledMidMessageIsAnErrorNotAShortMessage) {
  auto [mine, theirs] = cf::Pipe<std::string>();
  cf::Process p(Options(), SendForever, theirs);
  p.start();
  theirs.close();
  ASSERT_TRUE(mine.poll(absl::Seconds(10)));
  usleep(50 * 1000);
  p.kill();
  p.join();
  EXPECT_EQ(MessageOf([&] { mine.recv_bytes(); }),
            "got end of file during message");
}

TEST_P(CrossProcessPipeTest, ALargeMessage) {
  auto [mine, theirs] = cf::Pipe<std::vector<int>>(false);
  cf::Process p(Options(), SendBig, theirs, 2 << 20);
  p.start();
  theirs.close();
  const std::vector<int> v = mine.recv();
  ASSERT_EQ(v.size(), std::size_t{2} << 20);
  EXPECT_EQ(v.back(), (2 << 20) - 1);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(CrossProcessPipeTest, APoolTaskCannotTakeAConnection) {
  auto [a, b] = cf::Pipe<int>();
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam()});
  cf::Future<int> f = pool.submit(UseInPool, a);
  try {
    f.result();
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("only to a cf::Process"),
              std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(StartMethods, CrossProcessPipeTest,
                         testing::ValuesIn(cf_mp_test::StartMethods()),
                         cf_mp_test::ParamName);

}  // namespace
