// A call that cannot cross a process boundary fails at encoding time with
// NotRemotable (a std::invalid_argument) naming the type at fault and why,
// without instantiating any cereal code for it (which would not compile).
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "executors/internal/chunk_call.h"
#include "executors/transport/remote_call.h"
#include "executors/internal/work_item.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::cf::internal::CallState;
using ::cf::internal::ChunkCallState;
using ::cf::internal::NotRemotable;
using ::testing::AllOf;
using ::testing::HasSubstr;

struct Item {
  int value = 0;
};
struct Good {
  int x = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x);
  }
};

int Deref(int* p) { return *p; }
int Count(std::vector<Item> items) { return static_cast<int>(items.size()); }
std::shared_ptr<Item> Make(int value) {
  return std::make_shared<Item>(Item{value});
}
int Add(int a, Good b) { return a + b.x; }

// What EncodeRemote throws for `fn(args...)`; "" if it does not throw.
template <class R, class F, class... Args>
std::string EncodeError(F fn, Args... args) {
  CallState<R, F, Args...> call(fn, std::move(args)...);
  std::string out;
  try {
    call.EncodeRemote(&out);
  } catch (const NotRemotable& e) {
    const std::invalid_argument& base = e;  // what the pools promise
    return base.what();
  }
  return "";
}

TEST(NotRemotableTest, RawPointerArgumentIsNamed) {
  int v = 1;
  EXPECT_THAT(EncodeError<int>(&Deref, &v),
              AllOf(HasSubstr("cannot run this call in a worker process"),
                    HasSubstr("argument 1, of type `int*`"),
                    HasSubstr("`int*` is a raw pointer")));
}

TEST(NotRemotableTest, PlainStructInsideAVectorIsNamed) {
  EXPECT_THAT(EncodeError<int>(&Count, std::vector<Item>(2)),
              AllOf(HasSubstr("argument 1, of type `std::vector<"),
                    HasSubstr("`(anonymous namespace)::Item` has no cereal "
                              "serialize()")));
}

TEST(NotRemotableTest, TheFirstArgumentAtFaultIsNamed) {
  int v = 0;
  auto fn = [](Good, int*, Item) { return 0; };
  EXPECT_THAT(EncodeError<int>(fn, Good{}, &v, Item{}),
              HasSubstr("argument 2, of type `int*`"));
}

TEST(NotRemotableTest, ResultTypeIsNamed) {
  EXPECT_THAT(
      EncodeError<std::shared_ptr<Item>>(&Make, 1),
      AllOf(HasSubstr("the result type `std::shared_ptr<(anonymous "
                      "namespace)::Item>` cannot be serialized"),
            HasSubstr("`(anonymous namespace)::Item` has no cereal")));
}

TEST(NotRemotableTest, CapturingLambdaIsNamed) {
  int state = 3;
  auto fn = [state](int x) { return x + state; };
  EXPECT_THAT(EncodeError<int>(fn, 1),
              AllOf(HasSubstr("the function, of type `"),
                    HasSubstr("pass its state as arguments")));
}

TEST(NotRemotableTest, RemotableCallEncodes) {
  EXPECT_EQ(EncodeError<int>(&Add, 1, Good{2}), "");
}

TEST(NotRemotableTest, ChunkOfNonRemotableCallsIsNamed) {
  int a = 1, b = 2;
  auto chunk = ChunkCallState<int, int (*)(int*), int*>::Create(
      &Deref, {std::tuple<int*>(&a), std::tuple<int*>(&b)});
  std::string out;
  try {
    chunk->EncodeRemote(&out);
    FAIL() << "expected NotRemotable";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("argument 1, of type `int*`"));
  }
}

}  // namespace
