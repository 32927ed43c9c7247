// ChunkCallState, a chunk of map() calls run as one task: the chunk is
// cancelled once all its elements are (map's result was dropped, as Python
// cancels the pending chunks of a dropped map), an element cancelled on its
// own stays cancelled even when its chunk runs, and a chunk that fails or is
// cancelled as a whole takes its unanswered elements with it.
#include "executors/internal/chunk_call.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "futures/errors.h"
#include "futures/internal/deadline.h"
#include "futures/internal/future_state.h"
#include "gtest/gtest.h"

namespace {

using ::cf::internal::ChunkCallState;

std::atomic<int> calls{0};
int Square(int x) {
  calls.fetch_add(1);
  return x * x;
}

using Chunk = ChunkCallState<int, int (*)(int), int>;

// The chunk's own state, as Python spells it: "PENDING", "CANCELLED", ...
std::string Status(Chunk& chunk) {
  return cf::internal::StatusName(chunk.future().status());
}

std::shared_ptr<Chunk> MakeChunk(int n) {
  std::vector<std::tuple<int>> items;
  for (int i = 0; i < n; ++i) items.emplace_back(i);
  return Chunk::Create(&Square, std::move(items));
}

void CancelAll(Chunk& chunk) {
  for (std::size_t i = 0; i < chunk.size(); ++i) chunk.Cancel(i);
}

// Element `i`'s value once settled, or the exception it raises.
int Take(Chunk& chunk, std::size_t i) {
  EXPECT_TRUE(chunk.Await(i, cf::internal::Deadline::Never()));
  return chunk.Take(i);
}

TEST(ChunkCallTest, CancellingEveryElementCancelsThePendingChunk) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  CancelAll(*chunk);
  EXPECT_EQ(Status(*chunk), "CANCELLED");
}

TEST(ChunkCallTest, CancellingSomeElementsLeavesTheChunkPending) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  chunk->Cancel(0);
  chunk->Cancel(2);
  EXPECT_EQ(Status(*chunk), "PENDING");
  chunk->Cancel(0);  // again: still one element wanted
  EXPECT_EQ(Status(*chunk), "PENDING");
}

TEST(ChunkCallTest, ChunkCancelledByItsElementsDoesNotRun) {
  std::shared_ptr<Chunk> chunk = MakeChunk(2);
  CancelAll(*chunk);
  const int before = calls.load();
  chunk->Run([] {});
  EXPECT_EQ(calls.load(), before);
  EXPECT_EQ(Status(*chunk), "CANCELLED_AND_NOTIFIED");
  for (std::size_t i = 0; i < chunk->size(); ++i) {
    EXPECT_THROW(Take(*chunk, i), cf::CancelledError);
  }
}

TEST(ChunkCallTest, RunningChunkIsNotCancelledByItsElements) {
  std::shared_ptr<Chunk> chunk = MakeChunk(2);
  ASSERT_TRUE(chunk->future().SetRunningOrNotifyCancel());  // sent
  CancelAll(*chunk);
  EXPECT_EQ(Status(*chunk), "RUNNING");
}

TEST(ChunkCallTest, ElementCancelledAloneStaysCancelledWhenItsChunkRuns) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  chunk->Cancel(1);
  const int before = calls.load();
  chunk->Run([] {});
  EXPECT_EQ(calls.load(), before + 2);  // not the cancelled one
  EXPECT_EQ(Status(*chunk), "FINISHED");
  EXPECT_EQ(Take(*chunk, 0), 0);
  EXPECT_THROW(Take(*chunk, 1), cf::CancelledError);
  EXPECT_EQ(Take(*chunk, 2), 4);
}

// A chunk the pool fails (a worker died, say) fails every element it did
// not answer with the chunk's exception; one cancelled alone stays so.
TEST(ChunkCallTest, AFailedChunkFailsItsElementsNotCancelledAlone) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  chunk->Cancel(2);
  ASSERT_TRUE(chunk->future().SetRunningOrNotifyCancel());
  chunk->future().SetException(
      std::make_exception_ptr(std::runtime_error("worker died")));
  EXPECT_THROW(Take(*chunk, 0), std::runtime_error);
  EXPECT_THROW(Take(*chunk, 1), std::runtime_error);
  EXPECT_THROW(Take(*chunk, 2), cf::CancelledError);
}

// The pool cancelling a queued chunk (shutdown(cancel_futures=true))
// cancels its elements.
TEST(ChunkCallTest, ACancelledChunkCancelsItsElements) {
  std::shared_ptr<Chunk> chunk = MakeChunk(2);
  ASSERT_TRUE(chunk->future().Cancel());
  EXPECT_THROW(Take(*chunk, 0), cf::CancelledError);
  EXPECT_THROW(Take(*chunk, 1), cf::CancelledError);
}

// Map's result keeps the chunk for its elements' outcomes, not the
// function: a function object the caller passed is released once the
// chunk was run (or sent).
TEST(ChunkCallTest, ARunChunkKeepsNoCopyOfTheFunction) {
  auto token = std::make_shared<int>(0);
  auto fn = [token](int x) { return x; };
  using LambdaChunk = ChunkCallState<int, decltype(fn), int>;
  std::vector<std::tuple<int>> items = {{1}, {2}};
  auto chunk = LambdaChunk::Create(fn, std::move(items));
  const long with_chunk = token.use_count();
  chunk->Run([] {});
  EXPECT_EQ(token.use_count(), with_chunk - 1);
  EXPECT_EQ(chunk->Take(1), 2);
}

}  // namespace
