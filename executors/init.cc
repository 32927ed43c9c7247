#include "executors/init.h"

#include <vector>

#include "executors/internal/init_hook.h"
#include "executors/transport/reexec.h"

namespace cf {
namespace internal {
namespace {

// Filled during static initialization, read by Init: no lock needed.
std::vector<InitHook>& InitHooks() {
  static auto* hooks = new std::vector<InitHook>();
  return *hooks;
}

}  // namespace

bool AddInitHook(InitHook hook) {
  InitHooks().push_back(hook);
  return true;
}

}  // namespace internal

void Init(int argc, char** argv) {
  internal::InitProcess(argc, argv);
  for (internal::InitHook hook : internal::InitHooks()) hook(argc, argv);
}
bool Initialized() { return internal::ProcessInitialized(); }

}  // namespace cf
