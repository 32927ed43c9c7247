// What a process pool's chunked map costs per element: the elements'
// outcomes lie in one array of small slots per chunk, and a future that no
// thread sleeps on and no one watches carries no condition variable or
// callback list. Before, a 100,000-call map made 200,000 allocations for
// them, and malloc and free took 40% of its time.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <thread>
#include <tuple>
#include <vector>

#include "executors/internal/chunk_call.h"
#include "executors/internal/map_elements.h"
#include "futures/internal/deadline.h"
#include "futures/future.h"
#include "futures/internal/future_state.h"
#include "gtest/gtest.h"

namespace {

// Allocations by operator new in this binary while `counting` is set.
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

}  // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using Chunk = cf::internal::ChunkCallState<int, int (*)(int), int>;

int Square(int x) { return x * x; }

// Allocations made by `fn`.
template <class Fn>
long CountAllocations(Fn fn) {
  allocations.store(0);
  counting.store(true);
  fn();
  counting.store(false);
  return allocations.load();
}

TEST(ChunkAllocationsTest, AChunkAllocatesItsElementsOnceNotPerElement) {
  constexpr int kElements = 1000;
  std::vector<std::tuple<int>> items;
  for (int i = 0; i < kElements; ++i) items.emplace_back(i);
  std::shared_ptr<Chunk> chunk;
  const long made = CountAllocations([&] {
    chunk = Chunk::Create(&Square, std::move(items));
  });
  EXPECT_LT(made, 20) << "per element: " << double(made) / kElements;
  // Still an outcome each, settled by the chunk.
  chunk->Run([] {});
  for (int i = 0; i < kElements; ++i) {
    ASSERT_TRUE(chunk->Await(i, cf::internal::Deadline::Never()));
    ASSERT_EQ(chunk->Take(i), i * i);
  }
}

// A map's element is a slot, not a future: the first map of 100,000 calls
// touches a fifth of the memory it did (the page faults of a fresh pool's
// first map).
TEST(ChunkAllocationsTest, AnElementTakesFarLessThanAFuture) {
  EXPECT_LE(sizeof(cf::internal::ElementSlot<int>), 24u);
  EXPECT_LE(4 * sizeof(cf::internal::ElementSlot<int>),
            sizeof(cf::internal::FutureState<int>));
}

TEST(ChunkAllocationsTest, AFutureNoOneWaitsOnIsSmall) {
  // A mutex, the status, the outcome, the owner's bookkeeping: a condition
  // variable and two vectors (96 bytes) are made only when needed.
  EXPECT_LE(sizeof(cf::internal::FutureState<int>), 128u);
  cf::Future<int> f;
  const long made = CountAllocations([&] {
    f.set_result(7);
    EXPECT_EQ(f.result(), 7);
  });
  EXPECT_EQ(made, 0);
}

TEST(ChunkAllocationsTest, AThreadSleepingOnAFutureIsStillWoken) {
  cf::Future<int> f;
  std::thread setter([f] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f.set_result(3);
  });
  EXPECT_EQ(f.result(), 3);  // slept past its spin: made a condition variable
  setter.join();
}

}  // namespace
