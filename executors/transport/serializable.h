// cf::internal::kIsSerializable<T>: whether a value of type T can cross to a
// worker process, that is whether cereal's binary archives can write it and
// read it back into a default-constructed T.
//
// The one thing to know: cereal declares its overloads for std::vector<T>,
// std::shared_ptr<T>, T* and the other standard templates whatever T is, so
// cereal's own traits say "serializable" for std::vector<Item> even when Item
// has no serialize(), and instantiating the call then fails deep in cereal.
// This trait looks through the standard templates to their element types and
// asks cereal only about the types at the leaves (arithmetic types, enums and
// classes). It never instantiates a serialize(), save() or load() body, so it
// is safe to ask about any type; the thread pool asks it about every call.
// (It cannot see inside a user's serialize(): a class template whose
// serialize() archives a raw pointer member still passes.)
//
//   static_assert(cf::internal::kIsSerializable<std::vector<int>>);
//   static_assert(!cf::internal::kIsSerializable<std::vector<int*>>);
//   std::string why = cf::internal::WhyNotSerializable<std::map<int, Item>>();
//   // "`Item` is a class without a cereal serialize(), or save() and load(),
//   //  for binary archives"
#ifndef CF_EXECUTORS_TRANSPORT_SERIALIZABLE_H_
#define CF_EXECUTORS_TRANSPORT_SERIALIZABLE_H_

#include <cxxabi.h>

#include <array>
#include <cereal/archives/binary.hpp>
#include <cereal/details/traits.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/forward_list.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <chrono>
#include <complex>
#include <cstddef>
#include <cstdlib>
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
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_replace.h"

namespace cf::internal {

namespace serializable_internal {

template <class T, class = void>
inline constexpr bool kIsComplete = false;
template <class T>
inline constexpr bool kIsComplete<T, std::void_t<decltype(sizeof(T))>> = true;

// The demangled name of T without cv-qualifiers and references.
template <class T>
std::string BareName() {
  using U = std::remove_cvref_t<T>;
  const char* mangled;
  bool strip_pointer = false;
  if constexpr (!std::is_class_v<U> || kIsComplete<U>) {
    mangled = typeid(U).name();
  } else {  // typeid of an incomplete class is ill-formed; of its pointer, not
    mangled = typeid(U*).name();
    strip_pointer = true;
  }
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
  std::free(demangled);
  if (strip_pointer && !name.empty() && name.back() == '*') name.pop_back();
  // The one spelling users never write.
  return absl::StrReplaceAll(
      name, {{"std::__cxx11::basic_string<char, std::char_traits<char>, "
              "std::allocator<char> >",
              "std::string"},
             {"std::__cxx11::", "std::"}});
}

}  // namespace serializable_internal

// The demangled name of T as written, cv-qualifiers and references included:
// "const Item&", "std::vector<int*>".
template <class T>
std::string TypeNameOf() {
  using U = std::remove_reference_t<T>;
  std::string name = serializable_internal::BareName<U>();
  if constexpr (std::is_volatile_v<U>) name = "volatile " + name;
  if constexpr (std::is_const_v<U>) name = "const " + name;
  if constexpr (std::is_lvalue_reference_v<T>) name += "&";
  if constexpr (std::is_rvalue_reference_v<T>) name += "&&";
  return name;
}

namespace serializable_internal {

using OutArchive = cereal::BinaryOutputArchive;
using InArchive = cereal::BinaryInputArchive;

enum class Reason {
  kOk,
  kReference,
  kQualified,
  kRawPointer,
  kFunctionPointer,
  kMemberPointer,
  kReferenceWrapper,
  kIncomplete,
  kNoCerealFunctions,
  kNoDefaultConstructor,
  kNoPointeeConstructor,
  kPolymorphicPointee,
  kCustomDeleter,
  kUnsupported,
};

// The first type found at fault, and why; kOk and no type when none is.
struct Verdict {
  Reason reason = Reason::kOk;
  std::string (*type_name)() = nullptr;
  constexpr bool ok() const { return reason == Reason::kOk; }
};

template <class T>
constexpr Verdict Fail(Reason reason) {
  return {reason, &TypeNameOf<T>};
}

template <class... Verdicts>
constexpr Verdict First(Verdicts... verdicts) {
  Verdict found;
  ((found.ok() ? (void)(found = verdicts) : (void)0), ...);
  return found;
}

// Whether cereal finds exactly one way to write T, and one to read it.
template <class T>
inline constexpr bool kCerealKnows =
    cereal::traits::is_output_serializable<T, OutArchive>::value &&
    cereal::traits::is_input_serializable<T, InArchive>::value;

// Stored: cereal can write T and read it back into an existing T. The
// primary template judges the leaves; the specializations below look through
// the standard templates cereal supports to their elements.
template <class T>
struct Stored;

// Loaded: Stored, and default constructible, as cereal needs to make an
// element before reading it (vector::resize, optional::emplace, ...).
template <class T>
constexpr Verdict Loaded() {
  constexpr Verdict stored = Stored<T>::kVerdict;
  if constexpr (!stored.ok()) {
    return stored;
  } else if constexpr (!std::is_default_constructible_v<T>) {
    return Fail<T>(Reason::kNoDefaultConstructor);
  } else {
    return {};
  }
}

template <class T>
constexpr Verdict Leaf() {
  if constexpr (std::is_reference_v<T>) {
    return Fail<T>(Reason::kReference);
  } else if constexpr (std::is_const_v<T> || std::is_volatile_v<T>) {
    return Fail<T>(Reason::kQualified);
  } else if constexpr (std::is_arithmetic_v<T>) {
    return {};
  } else if constexpr (std::is_pointer_v<T> &&
                       std::is_function_v<std::remove_pointer_t<T>>) {
    return Fail<T>(Reason::kFunctionPointer);
  } else if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    return Fail<T>(Reason::kRawPointer);
  } else if constexpr (std::is_member_pointer_v<T>) {
    return Fail<T>(Reason::kMemberPointer);
  } else if constexpr (std::is_bounded_array_v<T>) {
    return Stored<std::remove_extent_t<T>>::kVerdict;
  } else if constexpr (!std::is_class_v<T> && !std::is_union_v<T> &&
                       !std::is_enum_v<T>) {
    return Fail<T>(Reason::kUnsupported);  // void, functions, T[]
  } else if constexpr (!kIsComplete<T>) {
    return Fail<T>(Reason::kIncomplete);
  } else if constexpr (kCerealKnows<T>) {
    return {};  // enums, and classes with cereal functions
  } else {
    return Fail<T>(Reason::kNoCerealFunctions);
  }
}

// What a smart pointer `Ptr` to T needs: T stored, and a way for cereal to
// make a T (default constructor, or load_and_construct).
template <class Ptr, class T>
constexpr Verdict Pointee() {
  if constexpr (std::is_array_v<T>) {
    return Fail<Ptr>(Reason::kUnsupported);
  } else if constexpr (std::is_const_v<T> || std::is_volatile_v<T> ||
                       std::is_void_v<T> || std::is_function_v<T> ||
                       !kIsComplete<T>) {
    return Leaf<T>();
  } else if constexpr (std::is_polymorphic_v<T>) {
    // Only with <cereal/types/polymorphic.hpp> and registered types.
    if constexpr (kCerealKnows<Ptr>) {
      return Stored<T>::kVerdict;
    } else {
      return Fail<T>(Reason::kPolymorphicPointee);
    }
  } else {
    constexpr Verdict stored = Stored<T>::kVerdict;
    if constexpr (!stored.ok()) {
      return stored;
    } else if constexpr (std::is_default_constructible_v<T> ||
                         cereal::traits::has_load_and_construct<
                             T, InArchive>::value) {
      // (Not cereal::traits::is_default_constructible: it says yes to all.)
      return {};
    } else {
      return Fail<T>(Reason::kNoPointeeConstructor);
    }
  }
}

template <class T>
struct Stored {
  static constexpr Verdict kVerdict = Leaf<T>();
};

// Containers whose elements cereal creates before reading them.
template <class T, class A>
struct Stored<std::vector<T, A>> {
  static constexpr Verdict kVerdict = Loaded<T>();
};
template <class T, class A>
struct Stored<std::deque<T, A>> {
  static constexpr Verdict kVerdict = Loaded<T>();
};
template <class T, class A>
struct Stored<std::list<T, A>> {
  static constexpr Verdict kVerdict = Loaded<T>();
};
template <class T, class A>
struct Stored<std::forward_list<T, A>> {
  static constexpr Verdict kVerdict = Loaded<T>();
};
template <class T>
struct Stored<std::optional<T>> {
  static constexpr Verdict kVerdict = Loaded<T>();
};
template <class... T>
struct Stored<std::variant<T...>> {
  static constexpr Verdict kVerdict = First(Loaded<T>()...);
};
template <class K, class C, class A>
struct Stored<std::set<K, C, A>> {
  static constexpr Verdict kVerdict = Loaded<K>();
};
template <class K, class C, class A>
struct Stored<std::multiset<K, C, A>> {
  static constexpr Verdict kVerdict = Loaded<K>();
};
template <class K, class H, class E, class A>
struct Stored<std::unordered_set<K, H, E, A>> {
  static constexpr Verdict kVerdict = Loaded<K>();
};
template <class K, class H, class E, class A>
struct Stored<std::unordered_multiset<K, H, E, A>> {
  static constexpr Verdict kVerdict = Loaded<K>();
};
template <class K, class V, class C, class A>
struct Stored<std::map<K, V, C, A>> {
  static constexpr Verdict kVerdict = First(Loaded<K>(), Loaded<V>());
};
template <class K, class V, class C, class A>
struct Stored<std::multimap<K, V, C, A>> {
  static constexpr Verdict kVerdict = First(Loaded<K>(), Loaded<V>());
};
template <class K, class V, class H, class E, class A>
struct Stored<std::unordered_map<K, V, H, E, A>> {
  static constexpr Verdict kVerdict = First(Loaded<K>(), Loaded<V>());
};
template <class K, class V, class H, class E, class A>
struct Stored<std::unordered_multimap<K, V, H, E, A>> {
  static constexpr Verdict kVerdict = First(Loaded<K>(), Loaded<V>());
};

// Read in place.
template <class T, std::size_t N>
struct Stored<std::array<T, N>> {
  static constexpr Verdict kVerdict = Stored<T>::kVerdict;
};
template <class T1, class T2>
struct Stored<std::pair<T1, T2>> {
  static constexpr Verdict kVerdict =
      First(Stored<T1>::kVerdict, Stored<T2>::kVerdict);
};
template <class... T>
struct Stored<std::tuple<T...>> {
  static constexpr Verdict kVerdict = First(Stored<T>::kVerdict...);
};
template <class T>
struct Stored<std::complex<T>> {
  static constexpr Verdict kVerdict = Stored<T>::kVerdict;
};
template <class Rep, class Period>
struct Stored<std::chrono::duration<Rep, Period>> {
  static constexpr Verdict kVerdict = Stored<Rep>::kVerdict;
};
template <class Clock, class Duration>
struct Stored<std::chrono::time_point<Clock, Duration>> {
  static constexpr Verdict kVerdict = Stored<Duration>::kVerdict;
};
template <class C, class Traits, class A>
struct Stored<std::basic_string<C, Traits, A>> {
  static constexpr Verdict kVerdict =
      std::is_arithmetic_v<C> ? Verdict{} : Fail<C>(Reason::kUnsupported);
};

// Smart pointers: what they point to.
template <class T>
struct Stored<std::shared_ptr<T>> {
  static constexpr Verdict kVerdict = Pointee<std::shared_ptr<T>, T>();
};
template <class T>
struct Stored<std::weak_ptr<T>> {
  static constexpr Verdict kVerdict = Pointee<std::weak_ptr<T>, T>();
};
template <class T, class D>
struct Stored<std::unique_ptr<T, D>> {
  static constexpr Verdict kVerdict =
      std::is_same_v<D, std::default_delete<T>>
          ? Pointee<std::unique_ptr<T, D>, T>()
          : Fail<std::unique_ptr<T, D>>(Reason::kCustomDeleter);
};

// Never: it is a reference into this process.
template <class T>
struct Stored<std::reference_wrapper<T>> {
  static constexpr Verdict kVerdict =
      Fail<std::reference_wrapper<T>>(Reason::kReferenceWrapper);
};

// "`Item*` is a raw pointer: ...": the type at fault and why.
inline std::string Explain(const Verdict& verdict) {
  if (verdict.ok()) return "";
  const std::string type = "`" + verdict.type_name() + "`";
  switch (verdict.reason) {
    case Reason::kOk:
      return "";
    case Reason::kReference:
      return type + " is a reference: pass or return the value";
    case Reason::kQualified:
      return type +
             " is const or volatile, so cereal cannot read a value into it";
    case Reason::kRawPointer:
      return type +
             " is a raw pointer, and an address means nothing in another "
             "process: pass the value, or a std::shared_ptr or "
             "std::unique_ptr to it";
    case Reason::kFunctionPointer:
      return type +
             " is a function pointer: only the function called can be one";
    case Reason::kMemberPointer:
      return type + " is a pointer to member";
    case Reason::kReferenceWrapper:
      return type + " refers to an object of this process: pass the value";
    case Reason::kIncomplete:
      return type + " is an incomplete type";
    case Reason::kNoCerealFunctions:
      return type +
             " has no cereal serialize(), or save() and load(), for binary "
             "archives (or has more than one)";
    case Reason::kNoDefaultConstructor:
      return type +
             " has no default constructor, which cereal needs to read one "
             "back";
    case Reason::kNoPointeeConstructor:
      return type +
             " has neither a default constructor nor a cereal "
             "load_and_construct(), which cereal needs to read one back "
             "through a smart pointer";
    case Reason::kPolymorphicPointee:
      return type +
             " is polymorphic: a smart pointer to it needs "
             "<cereal/types/polymorphic.hpp> and CEREAL_REGISTER_TYPE";
    case Reason::kCustomDeleter:
      return type + " has a custom deleter";
    case Reason::kUnsupported:
      return type + " is not a type cereal can serialize";
  }
  return type + " cannot be serialized";
}

}  // namespace serializable_internal

// Whether a T can be written by cereal::BinaryOutputArchive and read back by
// cereal::BinaryInputArchive into a default-constructed T (see the top).
template <class T>
inline constexpr bool kIsSerializable =
    serializable_internal::Loaded<T>().ok();

// Why T is not serializable, naming the type at fault (T itself or one of its
// elements); "" when it is.
template <class T>
std::string WhyNotSerializable() {
  return serializable_internal::Explain(serializable_internal::Loaded<T>());
}

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_SERIALIZABLE_H_
