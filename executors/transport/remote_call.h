// How a call crosses to a worker process: no registration, no macro, and no
// way for a frame to make a worker jump to an arbitrary address.
//
// Each distinct call type (function type, argument types, result type)
// instantiates one entry point, RemoteEntryFor<...>::Run, which registers
// itself during static initialization, so every process of the same build
// knows the same set. A call is sent as: the entry point's CodeAddress, the
// function's CodeAddress (function pointers; a captureless lambda is rebuilt
// from its type), and the arguments serialized with cereal. The worker runs
// an entry only if it is in its own registry; frames are authenticated
// (frame.h), so the function address is the one the parent sent.
#ifndef CF_EXECUTORS_TRANSPORT_REMOTE_CALL_H_
#define CF_EXECUTORS_TRANSPORT_REMOTE_CALL_H_

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
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
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "executors/transport/byte_stream.h"
#include "executors/transport/code_address.h"
#include "executors/transport/remote_exception.h"
#include "executors/transport/serializable.h"  // kIsSerializable

namespace cf::internal {

using InputArchive = cereal::BinaryInputArchive;
using OutputArchive = cereal::BinaryOutputArchive;

// Runs one call in a worker: reads the arguments from `in`, calls `fn` (the
// function's address; unused for captureless lambdas) and writes the
// serialized result to `*out`. Throws whatever the call throws.
using RemoteEntry = void (*)(std::uintptr_t fn, InputArchive& in,
                             std::string* out);

bool RegisterEntry(RemoteEntry entry);
bool IsRegisteredEntry(RemoteEntry entry);

template <class F>
inline constexpr bool kIsFunctionPointer =
    std::is_pointer_v<F>&& std::is_function_v<std::remove_pointer_t<F>>;

// A captureless lambda or an empty functor: its type alone is the function.
template <class F>
inline constexpr bool kIsStatelessCallable =
    std::is_class_v<F>&& std::is_empty_v<F>&&
        std::is_default_constructible_v<F>&& std::is_trivially_copyable_v<F>;

template <class R, class F, class... Args>
struct RemoteCallTraits {
  static constexpr bool kCallable =
      kIsFunctionPointer<F> || kIsStatelessCallable<F>;
  static constexpr bool kArgumentsSerializable = (kIsSerializable<Args> && ...);
  static constexpr bool kResultSerializable =
      std::is_void_v<R> || kIsSerializable<R>;
  static constexpr bool kRemotable =
      kCallable && kArgumentsSerializable && kResultSerializable;

  // Why a call of this type cannot run in another process; "" if it can.
  static constexpr const char* WhyNot() {
    if (!kCallable) {
      return "a capturing lambda or stateful function object cannot run in "
             "another process: pass a free function or a captureless lambda, "
             "and pass its state as arguments instead";
    }
    if (!kArgumentsSerializable) {
      return "an argument type cannot be serialized: use scalars, "
             "std::string, standard containers, tuples, optionals or a type "
             "with a cereal serialize() (and a default constructor)";
    }
    if (!kResultSerializable) {
      return "the result type cannot be serialized: return scalars, "
             "std::string, standard containers, tuples, optionals or a type "
             "with a cereal serialize() (and a default constructor)";
    }
    return "";
  }
};

// In a worker: the function a frame names, from the address the parent
// sent (a function pointer, already checked to be code of this program) or
// from its type alone (a captureless lambda).
template <class F>
F FunctionAt(std::uintptr_t fn) {
  if constexpr (kIsFunctionPointer<F>) {
    return reinterpret_cast<F>(fn);
  } else {
    return F{};
  }
}

template <class R, class F, class... Args>
struct RemoteEntryFor {
  static void Run(std::uintptr_t fn, InputArchive& in, std::string* out) {
    std::tuple<Args...> args;
    std::apply([&](auto&... a) { (in(a), ...); }, args);
    F function = FunctionAt<F>(fn);
    if constexpr (std::is_void_v<R>) {
      std::apply(std::move(function), std::move(args));
    } else {
      R result = std::apply(std::move(function), std::move(args));
      StringSink sink(out);
      std::ostream stream(&sink);
      OutputArchive archive(stream);
      archive(result);
    }
  }

  static inline const bool registered = RegisterEntry(&Run);
};

// Where a function pointer points, for the worker; nothing for a
// captureless lambda, whose type is all it takes. Throws
// std::invalid_argument if `fn` is not code of a loaded object.
template <class F>
CodeAddress DescribeFunction(const F& fn) {
  if constexpr (kIsFunctionPointer<F>) {
    std::optional<CodeAddress> where =
        DescribeAddress(reinterpret_cast<std::uintptr_t>(fn));
    if (!where) {
      throw std::invalid_argument(
          "the function pointer does not point into the code of a loaded "
          "object, so a worker process cannot call it");
    }
    return std::move(*where);
  } else {
    return CodeAddress{};
  }
}

// Where `Entry::Run` lies, for a worker to find it; computed once per entry.
template <class Entry>
const CodeAddress& EntryAddress() {
  (void)Entry::registered;  // odr-use: instantiates the registration
  static const CodeAddress entry =
      DescribeAddress(reinterpret_cast<std::uintptr_t>(&Entry::Run)).value();
  return entry;
}

// Serializes a call to `fn(args...)` for a worker process into `*out`.
// Throws std::invalid_argument if `fn` is not code of a loaded object.
template <class R, class F, class... Args>
void EncodeCall(const F& fn, const std::tuple<Args...>& args,
                std::string* out) {
  static_assert(RemoteCallTraits<R, F, Args...>::kRemotable);
  const CodeAddress function = DescribeFunction(fn);
  StringSink sink(out);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  archive(EntryAddress<RemoteEntryFor<R, F, Args...>>(), function);
  std::apply([&](const auto&... a) { (archive(a), ...); }, args);
}

// Runs `call` (returning R) and writes its outcome as a chunk's answer
// carries it: true and the value, or false and the exception. Run it inside
// a ScopedThrowCapture to get the thrower's stack.
template <class R, class Call>
void WriteOutcome(Call&& call, OutputArchive& archive) {
  std::optional<R> result;
  RemoteException failure;
  try {
    result.emplace(call());
  } catch (...) {
    failure = CaptureCurrentException();
  }
  archive(result.has_value());
  if (result.has_value()) {
    archive(*result);
  } else {
    archive(failure);
  }
}

// A chunk of calls to one function, for map(chunksize=n) on a process pool:
// one frame carries n argument tuples and brings back n outcomes, each the
// serialized result or the exception (so one failing element loses no other
// element's result, as in CPython main).
template <class R, class F, class... Args>
struct RemoteChunkEntryFor {
  static void Run(std::uintptr_t fn, InputArchive& in, std::string* out) {
    std::uint64_t n = 0;
    in(n);
    StringSink sink(out);
    std::ostream stream(&sink);
    OutputArchive archive(stream);
    archive(n);
    F function = FunctionAt<F>(fn);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::tuple<Args...> args;
      std::apply([&](auto&... a) { (in(a), ...); }, args);
      ScopedThrowCapture capture;
      WriteOutcome<R>([&] { return std::apply(function, std::move(args)); },
                      archive);
    }
  }

  static inline const bool registered = RegisterEntry(&Run);
};

// Serializes a chunk of calls to `fn`, one per tuple of `items`.
template <class R, class F, class... Args>
void EncodeChunk(const F& fn, const std::vector<std::tuple<Args...>>& items,
                 std::string* out) {
  static_assert(RemoteCallTraits<R, F, Args...>::kRemotable);
  const CodeAddress function = DescribeFunction(fn);
  StringSink sink(out);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  archive(EntryAddress<RemoteChunkEntryFor<R, F, Args...>>(), function,
          static_cast<std::uint64_t>(items.size()));
  for (const auto& item : items) {
    std::apply([&](const auto&... a) { (archive(a), ...); }, item);
  }
}

// In a worker: runs the call encoded by EncodeCall and writes its serialized
// result. Throws RemoteCallError for a call this build cannot run, and
// otherwise whatever the call throws.
void RunEncodedCall(std::string_view call, std::string* result);

class RemoteCallError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The call names an entry point this program never instantiated: the frame
// was forged, or the peer runs other code. A worker that gets one exits
// rather than trust anything more on its stream.
class UnknownEntryError : public RemoteCallError {
 public:
  using RemoteCallError::RemoteCallError;
};

// The call's type cannot cross a process boundary (see WhyNot()).
class NotRemotable : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Throws NotRemotable with `Remote::WhyNot()` (Remote: RemoteCallTraits).
template <class Remote>
[[noreturn]] void ThrowNotRemotable() {
  throw NotRemotable(std::string("cannot run this call in a worker process: ") +
                     Remote::WhyNot());
}

// Serializes one value the way RunEncodedCall writes results (and the pool
// writes everything else it sends: exceptions, hellos).
template <class T>
std::string EncodeValue(const T& value) {
  std::string bytes;
  StringSink sink(&bytes);
  std::ostream stream(&sink);
  OutputArchive archive(stream);
  archive(value);
  return bytes;
}

// Deserializes a value written by EncodeValue or RunEncodedCall; throws
// cereal::Exception on bytes that do not hold one.
template <class R>
R DecodeResult(std::string_view bytes) {
  ViewSource source(bytes);
  std::istream stream(&source);
  InputArchive archive(stream);
  R result;
  archive(result);
  return result;
}

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_REMOTE_CALL_H_
