// Which argument and result types a ProcessPoolExecutor takes: standard
// containers and smart pointers of serializable types cross to the worker
// and back; a call with a type that cannot (a raw pointer, a plain struct
// inside a container) made through cf::Executor& is a std::invalid_argument
// at submit naming the type, as process_pool_executor.h promises. (On a
// ProcessPoolExecutor used directly, such a call does not compile.)
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "cf.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct Point {
  int x = 0, y = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x, y);
  }
};
struct Item {  // no cereal serialize()
  int value = 0;
};

int Deref(int* p) { return *p; }
int Count(std::vector<Item> items) { return static_cast<int>(items.size()); }
std::shared_ptr<Item> MakeItem(int value) {
  return std::make_shared<Item>(Item{value});
}
int Identity(int x) { return x; }

std::shared_ptr<Point> MakePoint(int x) {
  return std::make_shared<Point>(Point{x, -x});
}
int SumX(std::vector<Point> points) {
  int sum = 0;
  for (const Point& p : points) sum += p.x;
  return sum;
}
std::map<std::string, std::optional<Point>> Index(
    std::vector<std::variant<int, Point>> values) {
  std::map<std::string, std::optional<Point>> index;
  for (const auto& v : values) {
    if (const Point* p = std::get_if<Point>(&v)) {
      index["p" + std::to_string(p->x)] = *p;
    } else {
      index["i" + std::to_string(std::get<int>(v))] = std::nullopt;
    }
  }
  return index;
}
std::unique_ptr<Point> Flip(std::unique_ptr<Point> p) {
  return std::make_unique<Point>(Point{p->y, p->x});
}

class ProcessPoolTypesTest : public testing::TestWithParam<cf::StartMethod> {
 protected:
  cf::ProcessPoolOptions Options(int max_workers) const {
    return {.max_workers = max_workers, .start_method = GetParam()};
  }
};

TEST_P(ProcessPoolTypesTest, SmartPointersAndContainersOfSerializableCross) {
  cf::ProcessPoolExecutor pool(Options(1));
  std::shared_ptr<Point> p = pool.submit(MakePoint, 3).result();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->y, -3);
  EXPECT_EQ(pool.submit(SumX, std::vector<Point>{{1, 0}, {2, 0}}).result(), 3);
  auto index = pool.submit(Index, std::vector<std::variant<int, Point>>{
                                      7, Point{4, 5}})
                   .result();
  ASSERT_EQ(index.size(), 2u);
  EXPECT_FALSE(index.at("i7").has_value());
  EXPECT_EQ(index.at("p4")->y, 5);
  std::unique_ptr<Point> flipped =
      std::move(pool.submit(Flip, std::make_unique<Point>(Point{1, 2})).result());
  EXPECT_EQ(flipped->x, 2);
}

TEST_P(ProcessPoolTypesTest, RawPointerThroughExecutorIsInvalidArgument) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Executor& executor = pool;
  int v = 1;
  try {
    executor.submit(Deref, &v);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("argument 1, of type `int*`"),
                                HasSubstr("raw pointer")));
  }
  EXPECT_EQ(executor.submit(Identity, 5).result(), 5);  // the pool goes on
}

TEST_P(ProcessPoolTypesTest, PlainStructInAVectorThroughExecutorIsInvalid) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Executor& executor = pool;
  try {
    executor.submit(Count, std::vector<Item>(2));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("`(anonymous namespace)::Item` has no "
                                    "cereal serialize()"));
  }
}

TEST_P(ProcessPoolTypesTest, NonSerializableResultThroughExecutorIsInvalid) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Executor& executor = pool;
  try {
    executor.submit(MakeItem, 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("the result type `std::shared_ptr<"
                                    "(anonymous namespace)::Item>`"));
  }
}

TEST_P(ProcessPoolTypesTest, MapOfRawPointersThroughExecutorIsInvalid) {
  cf::ProcessPoolExecutor pool(Options(1));
  cf::Executor& executor = pool;
  int a = 1, b = 2;
  std::vector<int*> pointers = {&a, &b};
  for (int chunksize : {1, 2}) {
    try {
      executor.map(Deref, pointers, {.chunksize = chunksize});
      FAIL() << "expected std::invalid_argument, chunksize " << chunksize;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("of type `int*`")) << chunksize;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    StartMethods, ProcessPoolTypesTest,
    testing::ValuesIn(cf_process_test::StartMethods()),
    [](const testing::TestParamInfo<cf::StartMethod>& info) {
      return cf_process_test::StartMethodName(info.param);
    });

}  // namespace
