// ChunkCallState, a chunk of map() calls run as one task: the chunk is
// cancelled once all its elements are (map's result was dropped, as Python
// cancels the pending chunks of a dropped map), and an element cancelled on
// its own stays cancelled even when its chunk runs.
#include "executors/internal/chunk_call.h"

#include <atomic>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "futures/future.h"
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

TEST(ChunkCallTest, CancellingEveryElementCancelsThePendingChunk) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  for (const cf::Future<int>& element : chunk->elements()) {
    EXPECT_TRUE(element.cancel());
  }
  EXPECT_EQ(Status(*chunk), "CANCELLED");
}

TEST(ChunkCallTest, CancellingSomeElementsLeavesTheChunkPending) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  chunk->elements()[0].cancel();
  chunk->elements()[2].cancel();
  EXPECT_EQ(Status(*chunk), "PENDING");
  chunk->elements()[0].cancel();  // again: still one element wanted
  EXPECT_EQ(Status(*chunk), "PENDING");
}

TEST(ChunkCallTest, ChunkCancelledByItsElementsDoesNotRun) {
  std::shared_ptr<Chunk> chunk = MakeChunk(2);
  for (const cf::Future<int>& element : chunk->elements()) element.cancel();
  const int before = calls.load();
  chunk->Run([] {});
  EXPECT_EQ(calls.load(), before);
  EXPECT_EQ(Status(*chunk), "CANCELLED_AND_NOTIFIED");
  for (const cf::Future<int>& element : chunk->elements()) {
    EXPECT_TRUE(element.cancelled());
  }
}

TEST(ChunkCallTest, RunningChunkIsNotCancelledByItsElements) {
  std::shared_ptr<Chunk> chunk = MakeChunk(2);
  ASSERT_TRUE(chunk->future().SetRunningOrNotifyCancel());  // sent
  for (const cf::Future<int>& element : chunk->elements()) element.cancel();
  EXPECT_EQ(Status(*chunk), "RUNNING");
}

TEST(ChunkCallTest, ElementCancelledAloneStaysCancelledWhenItsChunkRuns) {
  std::shared_ptr<Chunk> chunk = MakeChunk(3);
  const std::vector<cf::Future<int>> elements = chunk->elements();
  ASSERT_TRUE(elements[1].cancel());
  chunk->Run([] {});
  EXPECT_EQ(Status(*chunk), "FINISHED");
  EXPECT_EQ(elements[0].result(), 0);
  EXPECT_TRUE(elements[1].cancelled());
  EXPECT_THROW(elements[1].result(), cf::CancelledError);
  EXPECT_EQ(elements[2].result(), 4);
}

TEST(ChunkCallTest, ElementsOutliveTheirChunk) {
  std::vector<cf::Future<int>> elements;
  {
    std::shared_ptr<Chunk> chunk = MakeChunk(2);
    elements = chunk->elements();
  }
  for (const cf::Future<int>& element : elements) EXPECT_TRUE(element.cancel());
}

}  // namespace
