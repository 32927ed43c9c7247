// cf::internal::kIsSerializable: looks through the standard templates to
// their elements, where cereal's own traits answer "yes" for any element type
// (cereal declares vector<T>, shared_ptr<T> and T* overloads whatever T is).
// Every verdict is checked at compile time (static_assert) and again at run
// time (EXPECT), with WhyNotSerializable naming the type at fault.
#include "executors/transport/serializable.h"

#include <array>
#include <chrono>
#include <complex>
#include <cstdint>
#include <deque>
#include <forward_list>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "executors/transport/remote_call.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::cf::internal::kIsSerializable;
using ::cf::internal::WhyNotSerializable;
using ::testing::HasSubstr;

// Has a cereal serialize() and a default constructor.
struct Good {
  int x = 0;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x);
  }
};
// Cereal-ready through save() and load().
struct SaveLoad {
  std::string s;
  template <class Archive>
  void save(Archive& archive) const {
    archive(s);
  }
  template <class Archive>
  void load(Archive& archive) {
    archive(s);
  }
};
// No cereal function at all.
struct Plain {
  int x = 0;
};
// A serialize(), but no default constructor.
struct NoDefault {
  explicit NoDefault(int v) : x(v) {}
  int x;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x);
  }
};
// No default constructor, but cereal can build one behind a smart pointer.
struct Constructed {
  explicit Constructed(int v) : x(v) {}
  int x;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(x);
  }
  template <class Archive>
  static void load_and_construct(Archive& archive,
                                 cereal::construct<Constructed>& construct) {
    int v = 0;
    archive(v);
    construct(v);
  }
};
enum class Color { kRed, kGreen };
struct Incomplete;

// The verdicts, proved at compile time; the tests repeat them at run time.
static_assert(kIsSerializable<int>);
static_assert(kIsSerializable<Good>);
static_assert(!kIsSerializable<Plain>);
static_assert(!kIsSerializable<int*>);
static_assert(!kIsSerializable<Good*>);
static_assert(kIsSerializable<std::shared_ptr<int>>);
static_assert(kIsSerializable<std::shared_ptr<Good>>);
static_assert(!kIsSerializable<std::shared_ptr<Plain>>);
static_assert(!kIsSerializable<std::shared_ptr<int*>>);
static_assert(kIsSerializable<std::vector<int>>);
static_assert(kIsSerializable<std::vector<Good>>);
static_assert(!kIsSerializable<std::vector<Plain>>);
static_assert(!kIsSerializable<std::vector<int*>>);
static_assert(kIsSerializable<std::map<std::string, Good>>);
static_assert(!kIsSerializable<std::map<std::string, Plain>>);
static_assert(!kIsSerializable<std::map<int*, int>>);
static_assert(kIsSerializable<std::optional<Good>>);
static_assert(!kIsSerializable<std::optional<Plain>>);
static_assert(kIsSerializable<std::tuple<int, Good, std::string>>);
static_assert(!kIsSerializable<std::tuple<int, Plain>>);
static_assert(!kIsSerializable<std::tuple<int, int*>>);
static_assert(kIsSerializable<std::pair<int, Good>>);
static_assert(!kIsSerializable<std::pair<Plain, int>>);
static_assert(kIsSerializable<std::variant<std::monostate, int, Good>>);
static_assert(!kIsSerializable<std::variant<int, Plain>>);
static_assert(!kIsSerializable<std::variant<int, int*>>);

TEST(SerializableTest, ArithmeticEnumsAndStringsAre) {
  EXPECT_TRUE(kIsSerializable<int>);
  EXPECT_TRUE(kIsSerializable<bool>);
  EXPECT_TRUE(kIsSerializable<char>);
  EXPECT_TRUE(kIsSerializable<double>);
  EXPECT_TRUE(kIsSerializable<std::uint64_t>);
  EXPECT_TRUE(kIsSerializable<Color>);
  EXPECT_TRUE(kIsSerializable<std::string>);
  EXPECT_TRUE(kIsSerializable<std::u16string>);
  EXPECT_EQ(WhyNotSerializable<int>(), "");
}

TEST(SerializableTest, ClassesWithCerealFunctionsAndDefaultConstructorAre) {
  EXPECT_TRUE(kIsSerializable<Good>);
  EXPECT_TRUE(kIsSerializable<SaveLoad>);
  EXPECT_FALSE(kIsSerializable<Plain>);
  EXPECT_THAT(WhyNotSerializable<Plain>(),
              HasSubstr("`(anonymous namespace)::Plain` has no cereal"));
  EXPECT_FALSE(kIsSerializable<NoDefault>);
  EXPECT_THAT(WhyNotSerializable<NoDefault>(),
              HasSubstr("NoDefault` has no default constructor"));
}

TEST(SerializableTest, PointersReferencesAndReferenceWrappersAreNot) {
  EXPECT_FALSE(kIsSerializable<int*>);
  EXPECT_FALSE(kIsSerializable<const char*>);
  EXPECT_FALSE(kIsSerializable<Good*>);
  EXPECT_FALSE(kIsSerializable<int&>);
  EXPECT_FALSE(kIsSerializable<int (*)(int)>);
  EXPECT_FALSE(kIsSerializable<int Good::*>);
  EXPECT_FALSE(kIsSerializable<std::nullptr_t>);
  EXPECT_FALSE(kIsSerializable<std::reference_wrapper<int>>);
  EXPECT_THAT(WhyNotSerializable<int*>(), HasSubstr("`int*` is a raw pointer"));
  EXPECT_THAT(WhyNotSerializable<int (*)(int)>(),
              HasSubstr("is a function pointer"));
  EXPECT_THAT(WhyNotSerializable<int&>(), HasSubstr("`int&` is a reference"));
  EXPECT_THAT(WhyNotSerializable<std::reference_wrapper<int>>(),
              HasSubstr("`std::reference_wrapper<int>` refers to an object"));
}

TEST(SerializableTest, SharedPtrIsWhatItPointsToIs) {
  EXPECT_TRUE(kIsSerializable<std::shared_ptr<int>>);
  EXPECT_TRUE(kIsSerializable<std::shared_ptr<Good>>);
  EXPECT_TRUE(kIsSerializable<std::shared_ptr<Constructed>>);
  EXPECT_FALSE(kIsSerializable<std::shared_ptr<Plain>>);
  EXPECT_FALSE(kIsSerializable<std::shared_ptr<int*>>);
  EXPECT_FALSE(kIsSerializable<std::shared_ptr<NoDefault>>);
  EXPECT_FALSE(kIsSerializable<std::shared_ptr<Incomplete>>);
  EXPECT_FALSE(kIsSerializable<std::shared_ptr<void>>);
  EXPECT_THAT(WhyNotSerializable<std::shared_ptr<Plain>>(),
              HasSubstr("Plain` has no cereal"));
  EXPECT_THAT(WhyNotSerializable<std::shared_ptr<NoDefault>>(),
              HasSubstr("load_and_construct"));
  EXPECT_THAT(WhyNotSerializable<std::shared_ptr<Incomplete>>(),
              HasSubstr("Incomplete` is an incomplete type"));
}

TEST(SerializableTest, UniqueAndWeakPtrAreWhatTheyPointToIs) {
  EXPECT_TRUE(kIsSerializable<std::unique_ptr<Good>>);
  EXPECT_TRUE(kIsSerializable<std::unique_ptr<Constructed>>);
  EXPECT_FALSE(kIsSerializable<std::unique_ptr<Plain>>);
  EXPECT_FALSE(kIsSerializable<std::unique_ptr<int[]>>);
  EXPECT_TRUE(kIsSerializable<std::weak_ptr<Good>>);
  EXPECT_FALSE(kIsSerializable<std::weak_ptr<Plain>>);
}

TEST(SerializableTest, VectorIsWhatItsElementsAre) {
  EXPECT_TRUE(kIsSerializable<std::vector<int>>);
  EXPECT_TRUE(kIsSerializable<std::vector<bool>>);
  EXPECT_TRUE(kIsSerializable<std::vector<Good>>);
  EXPECT_TRUE(kIsSerializable<std::vector<std::vector<std::string>>>);
  EXPECT_FALSE(kIsSerializable<std::vector<Plain>>);
  EXPECT_FALSE(kIsSerializable<std::vector<int*>>);
  EXPECT_FALSE(kIsSerializable<std::vector<NoDefault>>);  // resize() needs it
  EXPECT_FALSE(kIsSerializable<std::vector<std::vector<Plain>>>);
  EXPECT_THAT(WhyNotSerializable<std::vector<std::vector<int*>>>(),
              HasSubstr("`int*` is a raw pointer"));
}

TEST(SerializableTest, OtherSequencesAreWhatTheirElementsAre) {
  EXPECT_TRUE((kIsSerializable<std::array<Good, 3>>));
  EXPECT_FALSE((kIsSerializable<std::array<Plain, 3>>));
  EXPECT_TRUE(kIsSerializable<std::deque<Good>>);
  EXPECT_FALSE(kIsSerializable<std::deque<Plain>>);
  EXPECT_TRUE(kIsSerializable<std::list<Good>>);
  EXPECT_FALSE(kIsSerializable<std::list<int*>>);
  EXPECT_TRUE(kIsSerializable<std::forward_list<Good>>);
  EXPECT_FALSE(kIsSerializable<std::forward_list<Plain>>);
}

TEST(SerializableTest, MapsAndSetsAreWhatTheirKeysAndValuesAre) {
  EXPECT_TRUE((kIsSerializable<std::map<std::string, Good>>));
  EXPECT_TRUE((kIsSerializable<std::multimap<int, std::vector<Good>>>));
  EXPECT_TRUE((kIsSerializable<std::unordered_map<std::string, Good>>));
  EXPECT_FALSE((kIsSerializable<std::map<std::string, Plain>>));
  EXPECT_FALSE((kIsSerializable<std::map<int*, int>>));
  EXPECT_FALSE((kIsSerializable<std::unordered_map<int, Plain>>));
  EXPECT_TRUE(kIsSerializable<std::set<int>>);
  EXPECT_TRUE(kIsSerializable<std::unordered_set<std::string>>);
  EXPECT_FALSE(kIsSerializable<std::set<int*>>);
  EXPECT_FALSE(kIsSerializable<std::unordered_multiset<int*>>);
  EXPECT_THAT((WhyNotSerializable<std::map<std::string, Plain>>()),
              HasSubstr("Plain` has no cereal"));
}

TEST(SerializableTest, OptionalIsWhatItHoldsIs) {
  EXPECT_TRUE(kIsSerializable<std::optional<int>>);
  EXPECT_TRUE(kIsSerializable<std::optional<Good>>);
  EXPECT_FALSE(kIsSerializable<std::optional<Plain>>);
  EXPECT_FALSE(kIsSerializable<std::optional<int*>>);
  EXPECT_FALSE(kIsSerializable<std::optional<NoDefault>>);  // emplace()
}

TEST(SerializableTest, TuplesAndPairsAreWhatAllTheirMembersAre) {
  EXPECT_TRUE((kIsSerializable<std::tuple<>>));
  EXPECT_TRUE((kIsSerializable<std::tuple<int, Good, std::string>>));
  EXPECT_FALSE((kIsSerializable<std::tuple<int, Plain>>));
  EXPECT_FALSE((kIsSerializable<std::tuple<int, int*>>));
  EXPECT_TRUE((kIsSerializable<std::pair<int, Good>>));
  EXPECT_FALSE((kIsSerializable<std::pair<Plain, int>>));
  EXPECT_FALSE((kIsSerializable<std::pair<int, int*>>));
  EXPECT_FALSE((kIsSerializable<std::pair<const int, int>>));  // read into
  EXPECT_THAT((WhyNotSerializable<std::tuple<int, std::string, Good*>>()),
              HasSubstr("Good*` is a raw pointer"));
}

TEST(SerializableTest, VariantIsWhatAllItsAlternativesAre) {
  EXPECT_TRUE((kIsSerializable<std::variant<std::monostate, int, Good>>));
  EXPECT_FALSE((kIsSerializable<std::variant<int, Plain>>));
  EXPECT_FALSE((kIsSerializable<std::variant<int, int*>>));
  EXPECT_FALSE((kIsSerializable<std::variant<int, NoDefault>>));  // emplace
}

TEST(SerializableTest, ComplexAndChronoTypesAre) {
  EXPECT_TRUE(kIsSerializable<std::complex<double>>);
  EXPECT_TRUE(kIsSerializable<std::chrono::milliseconds>);
  EXPECT_TRUE(kIsSerializable<std::chrono::system_clock::time_point>);
}

// A "yes" is real: the value goes through cereal and comes back equal (this
// instantiates the cereal code that a wrong "yes" would break at compile time).
template <class T>
T RoundTrip(const T& value) {
  static_assert(kIsSerializable<T>);
  return cf::internal::DecodeResult<T>(cf::internal::EncodeValue(value));
}

TEST(SerializableTest, WhatItAcceptsRoundTripsThroughCereal) {
  EXPECT_EQ(RoundTrip(std::vector<Good>{{1}, {2}}).at(1).x, 2);
  EXPECT_EQ(RoundTrip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(RoundTrip(std::map<std::string, Good>{{"a", {3}}}).at("a").x, 3);
  EXPECT_EQ(RoundTrip(std::optional<Good>(Good{4}))->x, 4);
  EXPECT_EQ(std::get<1>(RoundTrip(std::tuple<int, Good>(1, {5}))).x, 5);
  EXPECT_EQ(RoundTrip(std::pair<int, Good>(1, {6})).second.x, 6);
  EXPECT_EQ(std::get<Good>(
                RoundTrip(std::variant<std::monostate, int, Good>(Good{7})))
                .x,
            7);
  EXPECT_EQ(RoundTrip(std::make_shared<Good>(Good{8}))->x, 8);
  EXPECT_EQ(RoundTrip(std::make_shared<Constructed>(9))->x, 9);
  EXPECT_EQ(RoundTrip(std::make_unique<Good>(Good{10}))->x, 10);
  EXPECT_EQ(RoundTrip(std::forward_list<Good>{{11}}).front().x, 11);
  EXPECT_EQ((RoundTrip(std::array<Good, 2>{Good{1}, Good{12}})[1].x), 12);
  EXPECT_EQ(RoundTrip(std::deque<SaveLoad>{{"d"}}).front().s, "d");
  EXPECT_EQ(RoundTrip(std::set<Color>{Color::kGreen}).count(Color::kGreen), 1u);
  EXPECT_EQ(RoundTrip(std::chrono::milliseconds(13)).count(), 13);
  EXPECT_EQ(RoundTrip(std::complex<double>(1, 14)).imag(), 14);
  EXPECT_EQ(RoundTrip(std::u16string(u"x")), u"x");
}

TEST(SerializableTest, TypeNamesAreWrittenAsInSource) {
  using cf::internal::TypeNameOf;
  EXPECT_EQ(TypeNameOf<int>(), "int");
  EXPECT_EQ(TypeNameOf<const int&>(), "const int&");
  EXPECT_EQ(TypeNameOf<std::string>(), "std::string");
  EXPECT_EQ(TypeNameOf<std::vector<int*>>(), "std::vector<int*, std::allocator<int*> >");
  EXPECT_EQ(TypeNameOf<Incomplete>(), "(anonymous namespace)::Incomplete");
}

}  // namespace
