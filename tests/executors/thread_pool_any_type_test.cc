// A thread pool takes any argument and result type std::thread takes: raw
// pointers, std::ref, smart pointers to plain structs, move-only types. None
// of them can cross to a worker process, and a thread pool never sends them
// there, so none may instantiate the process pool's cereal encoding (these
// calls did not compile while every call did).
#include <functional>
#include <memory>
#include <numeric>
#include <ranges>
#include <string>
#include <utility>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"

namespace {

// No cereal serialize(): fine on threads.
struct Item {
  int value = 0;
};
// Declared only: a handle a task passes along without looking inside.
struct Opaque;

int Deref(int* p) { return *p; }
void Increment(int& counter) { ++counter; }
int Count(std::vector<Item> items) { return static_cast<int>(items.size()); }
std::shared_ptr<Item> Make(int value) {
  return std::make_shared<Item>(Item{value});
}
std::unique_ptr<Item> Twice(std::unique_ptr<Item> item) {
  item->value *= 2;
  return item;
}
Item Next(Item item) { return Item{item.value + 1}; }
bool IsNull(std::shared_ptr<Opaque> handle) { return handle == nullptr; }

TEST(ThreadPoolAnyTypeTest, SubmitTakesARawPointer) {
  cf::ThreadPoolExecutor pool(1);
  int v = 42;
  EXPECT_EQ(pool.submit(Deref, &v).result(), 42);
}

TEST(ThreadPoolAnyTypeTest, MapTakesRawPointers) {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> values = {1, 2, 3};
  std::vector<int*> pointers = {&values[0], &values[1], &values[2]};
  std::vector<int> got;
  for (int r : pool.map(Deref, pointers)) got.push_back(r);
  EXPECT_EQ(got, values);
}

TEST(ThreadPoolAnyTypeTest, SubmitTakesStdRefAndWritesThroughIt) {
  cf::ThreadPoolExecutor pool(1);
  int counter = 0;
  pool.submit(Increment, std::ref(counter)).result();
  pool.submit([](int& c) { c += 10; }, std::ref(counter)).result();
  EXPECT_EQ(counter, 11);
}

TEST(ThreadPoolAnyTypeTest, SubmitReturnsASharedPtrToAPlainStruct) {
  cf::ThreadPoolExecutor pool(1);
  std::shared_ptr<Item> item = pool.submit(Make, 7).result();
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->value, 7);
}

TEST(ThreadPoolAnyTypeTest, MapReturnsSharedPtrsToAPlainStruct) {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> inputs = {1, 2, 3};
  std::vector<int> got;
  for (std::shared_ptr<Item> item : pool.map(Make, inputs)) {
    got.push_back(item->value);
  }
  EXPECT_EQ(got, inputs);
}

TEST(ThreadPoolAnyTypeTest, SubmitTakesAVectorOfPlainStructs) {
  cf::ThreadPoolExecutor pool(1);
  std::vector<Item> items(5);
  EXPECT_EQ(pool.submit(Count, items).result(), 5);
}

TEST(ThreadPoolAnyTypeTest, MapTakesVectorsOfPlainStructs) {
  cf::ThreadPoolExecutor pool(2);
  std::vector<std::vector<Item>> batches = {std::vector<Item>(1),
                                            std::vector<Item>(4)};
  std::vector<int> got;
  for (int n : pool.map(Count, batches, {.chunksize = 2})) got.push_back(n);
  EXPECT_EQ(got, (std::vector<int>{1, 4}));
}

TEST(ThreadPoolAnyTypeTest, SubmitMovesAUniquePtrInAndOut) {
  cf::ThreadPoolExecutor pool(1);
  cf::Future<std::unique_ptr<Item>> f =
      pool.submit(Twice, std::make_unique<Item>(Item{21}));
  std::unique_ptr<Item> item = std::move(f.result());
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->value, 42);
}

TEST(ThreadPoolAnyTypeTest, MapMovesUniquePtrsInAndOut) {
  cf::ThreadPoolExecutor pool(2);
  auto inputs = std::views::iota(1, 4) | std::views::transform([](int v) {
                  return std::make_unique<Item>(Item{v});
                });
  std::vector<int> got;
  for (std::unique_ptr<Item> item : pool.map(Twice, inputs)) {
    got.push_back(item->value);
  }
  EXPECT_EQ(got, (std::vector<int>{2, 4, 6}));
}

TEST(ThreadPoolAnyTypeTest, SubmitAndMapTakeAndReturnAPlainStruct) {
  cf::ThreadPoolExecutor pool(2);
  EXPECT_EQ(pool.submit(Next, Item{1}).result().value, 2);
  std::vector<Item> items = {Item{10}, Item{20}};
  std::vector<int> got;
  for (Item item : pool.map(Next, items)) got.push_back(item.value);
  EXPECT_EQ(got, (std::vector<int>{11, 21}));
}

TEST(ThreadPoolAnyTypeTest, SubmitTakesASharedPtrToAnIncompleteType) {
  cf::ThreadPoolExecutor pool(1);
  EXPECT_TRUE(pool.submit(IsNull, std::shared_ptr<Opaque>()).result());
}

TEST(ThreadPoolAnyTypeTest, WorksThroughTheAbstractExecutor) {
  cf::ThreadPoolExecutor pool(1);
  cf::Executor& executor = pool;
  int v = 5;
  EXPECT_EQ(executor.submit(Deref, &v).result(), 5);
  EXPECT_EQ(executor.submit(Make, 3).result()->value, 3);
  int counter = 0;
  executor.submit(Increment, std::ref(counter)).result();
  EXPECT_EQ(counter, 1);
}

}  // namespace
