#include "executors/transport/process_identity.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cf::internal {
namespace {

ProcessIdentity& Identity() {
  static ProcessIdentity* identity = new ProcessIdentity();
  return *identity;
}

std::atomic<int> counter{0};

}  // namespace

const ProcessIdentity& CurrentProcessIdentity() { return Identity(); }

void SetProcessIdentity(ProcessIdentity identity) {
  Identity() = std::move(identity);
}

int NextProcessNumber() {
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

void ResetProcessNumbers() { counter.store(0, std::memory_order_relaxed); }

std::string ChildName(const char* method, const char* kind, int number) {
  return absl::StrCat(method, kind, "-", number);
}

}  // namespace cf::internal
