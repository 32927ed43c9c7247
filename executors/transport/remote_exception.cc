#include "executors/transport/remote_exception.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>

#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "executors/remote_error.h"
#include "futures/errors.h"
#include "futures/internal/future_state.h"

namespace cf::internal {
namespace {

constexpr int kMaxFrames = 64;

struct Stack {
  int depth;
  void* frames[kMaxFrames];
};

// Records the stack from the frame that `return_address` returns to (the
// recording function's caller) outwards. Located by address because how many
// frames the unwinder adds on top is up to how absl was built.
void Record(void* return_address, Stack& stack) {
  stack.depth = absl::GetStackTrace(stack.frames, kMaxFrames, 0);
  const auto caller = std::find(stack.frames, stack.frames + stack.depth,
                                return_address);
  if (caller == stack.frames + stack.depth) return;
  stack.depth = std::copy(caller, stack.frames + stack.depth, stack.frames) -
                stack.frames;
}

// The last exception thrown by this thread inside a ScopedThrowCapture.
struct ThrowSite {
  const std::type_info* type;  // Null when there is none.
  Stack stack;
};

constinit thread_local bool capturing = false;
constinit thread_local ThrowSite last_throw = {};

// The function containing `pc`; else, for offline symbolizers (addr2line),
// the object file and offset.
std::string FunctionAt(const void* pc) {
  char name[1024];
  if (absl::Symbolize(pc, name, sizeof(name))) return name;
  Dl_info info;
  if (dladdr(pc, &info) != 0 && info.dli_fname != nullptr) {
    return absl::StrCat("(", info.dli_fname, "+0x",
                        absl::Hex(static_cast<const char*>(pc) -
                                  static_cast<const char*>(info.dli_fbase)),
                        ")");
  }
  return "(unknown)";
}

// One frame per line, innermost first.
std::string Symbolized(const Stack& stack) {
  std::string text;
  for (int i = 0; i < stack.depth; ++i) {
    // Looks up the call, not the return address: after a call to a noreturn
    // function such as __cxa_throw, the return address can already be the
    // first byte of the next function.
    const void* call = static_cast<const char*>(stack.frames[i]) - 1;
    absl::StrAppend(&text, i == 0 ? "" : "\n", "    #", i, " 0x",
                    absl::Hex(stack.frames[i]), " ", FunctionAt(call));
  }
  return text;
}

template <class E>
[[noreturn]] void ThrowNested(const std::string& message) {
  if constexpr (std::is_constructible_v<E, const std::string&>) {
    std::throw_with_nested(E(message));
  } else {
    // std::exception, std::bad_alloc: what() is fixed by the type.
    std::throw_with_nested(E());
  }
}

struct Rebuildable {
  const std::type_info& type;
  void (*throw_nested)(const std::string& message);
};

// The types rebuilt as themselves; RemoteException::kind is an index in it,
// plus one. Matched on the exact type: a subclass becomes a RemoteError rather
// than being sliced to the base it happens to have here.
constexpr Rebuildable kRebuildable[] = {
    {typeid(std::exception), ThrowNested<std::exception>},
    {typeid(std::bad_alloc), ThrowNested<std::bad_alloc>},
    {typeid(std::logic_error), ThrowNested<std::logic_error>},
    {typeid(std::invalid_argument), ThrowNested<std::invalid_argument>},
    {typeid(std::domain_error), ThrowNested<std::domain_error>},
    {typeid(std::length_error), ThrowNested<std::length_error>},
    {typeid(std::out_of_range), ThrowNested<std::out_of_range>},
    {typeid(std::runtime_error), ThrowNested<std::runtime_error>},
    {typeid(std::range_error), ThrowNested<std::range_error>},
    {typeid(std::overflow_error), ThrowNested<std::overflow_error>},
    {typeid(std::underflow_error), ThrowNested<std::underflow_error>},
    {typeid(Error), ThrowNested<Error>},
    {typeid(CancelledError), ThrowNested<CancelledError>},
    {typeid(TimeoutError), ThrowNested<TimeoutError>},
    {typeid(InvalidStateError), ThrowNested<InvalidStateError>},
    {typeid(BrokenExecutor), ThrowNested<BrokenExecutor>},
    {typeid(BrokenThreadPool), ThrowNested<BrokenThreadPool>},
};

}  // namespace

ScopedThrowCapture::ScopedThrowCapture() : was_capturing_(capturing) {
  capturing = true;
  last_throw.type = nullptr;
}

ScopedThrowCapture::~ScopedThrowCapture() { capturing = was_capturing_; }

RemoteException CaptureCurrentException() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  RemoteException e;
  e.type_name = ExceptionTypeName(std::current_exception());
  try {
    throw;
  } catch (const std::exception& error) {
    e.message = error.what();
  } catch (...) {
  }
  e.pid = getpid();
  for (int i = 0; i < std::ssize(kRebuildable); ++i) {
    if (type != nullptr && *type == kRebuildable[i].type) e.kind = i + 1;
  }
  // The record is of the last throw, which need not be this exception's: it
  // may have come through std::rethrow_exception, which does not go through
  // __cxa_throw. A different type at least is caught here.
  if (last_throw.type != nullptr && type != nullptr &&
      *last_throw.type == *type) {
    e.traceback = Symbolized(last_throw.stack);
  } else {
    Stack catch_site;
    Record(__builtin_return_address(0), catch_site);
    e.traceback = absl::StrCat(
        "    (where it was thrown was not recorded; where it was caught:)\n",
        Symbolized(catch_site));
  }
  last_throw.type = nullptr;
  return e;
}

std::exception_ptr RebuildException(const RemoteException& e) {
  // Thrown and caught so that it is the current exception, which is what
  // std::throw_with_nested nests.
  try {
    throw RemoteTraceback(e.pid, e.type_name, e.message, e.traceback);
  } catch (const RemoteTraceback& cause) {
    try {
      if (e.kind > 0 && e.kind <= std::ssize(kRebuildable)) {
        kRebuildable[e.kind - 1].throw_nested(e.message);
      }
      std::throw_with_nested(RemoteError(cause));
    } catch (...) {
      return std::current_exception();
    }
  }
}

}  // namespace cf::internal

// Replaces the C++ runtime's __cxa_throw, which every throw expression calls,
// to record the throw site: the stack is gone by the time anyone catches. The
// dynamic linker binds every throw in the process to the first definition in
// load order, which is this one when it is in the executable or in a library
// loaded before libstdc++ (Bazel puts cc_library .so files first). ASan's
// interceptor is loaded before everything, but it forwards to the next
// definition, so it ends up here too. Defined where <cxxabi.h> declares it
// (noreturn), as libstdc++ does: compilers accept that next to the declaration
// they make up for throw expressions, and reject it in the global namespace.
namespace __cxxabiv1 {

extern "C" void __cxa_throw(void* object, std::type_info* type,
                            void (*destructor)(void*)) {
  if (cf::internal::capturing) {
    cf::internal::last_throw.type = type;
    // Frame #0 is the function with the throw expression.
    cf::internal::Record(__builtin_return_address(0),
                         cf::internal::last_throw.stack);
  }
  using CxaThrow = void (*)(void*, std::type_info*, void (*)(void*));
  static const auto real_cxa_throw =
      reinterpret_cast<CxaThrow>(dlsym(RTLD_NEXT, "__cxa_throw"));
  real_cxa_throw(object, type, destructor);
  std::abort();  // Not reached: the real __cxa_throw does not return.
}

}  // namespace __cxxabiv1
