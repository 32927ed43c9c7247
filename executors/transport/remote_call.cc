#include "executors/transport/remote_call.h"

#include <mutex>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace cf::internal {
namespace {

struct Registry {
  std::mutex mu;
  absl::flat_hash_set<RemoteEntry> entries;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry();  // used during static init
  return *registry;
}

}  // namespace

bool RegisterEntry(RemoteEntry entry) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.entries.insert(entry);
  return true;
}

bool IsRegisteredEntry(RemoteEntry entry) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  return registry.entries.contains(entry);
}

void RunEncodedCall(std::string_view call, std::string* result) {
  ViewSource source(call);
  std::istream stream(&source);
  InputArchive archive(stream);
  CodeAddress entry_code, function_code;
  archive(entry_code, function_code);
  std::optional<std::uintptr_t> entry = ResolveAddress(entry_code);
  if (!entry || !IsRegisteredEntry(reinterpret_cast<RemoteEntry>(*entry))) {
    throw UnknownEntryError(absl::StrCat(
        "the call names no entry point of this build (object '",
        entry_code.object, "' offset ", entry_code.offset,
        "): parent and worker run different binaries, or the frame is bad"));
  }
  std::uintptr_t function = 0;
  if (function_code.offset != 0) {
    std::optional<std::uintptr_t> address = ResolveAddress(function_code);
    if (!address) {
      throw RemoteCallError(absl::StrCat(
          "the call's function is not code of this process (object '",
          function_code.object, "' offset ", function_code.offset, ")"));
    }
    function = *address;
  }
  reinterpret_cast<RemoteEntry>(*entry)(function, archive, result);
}

}  // namespace cf::internal
