#include "futures/internal/blocking_hook.h"

#include <pthread.h>

namespace cf::internal {
namespace {

thread_local BlockingHook* current_hook = nullptr;

// In a forked child only the forking thread survives, and the pool its hook
// belongs to has no threads there.
const bool forget_hook_in_child = [] {
  pthread_atfork(nullptr, nullptr, [] { current_hook = nullptr; });
  return true;
}();

}  // namespace

BlockingHook* BlockingHook::Current() { return current_hook; }
void BlockingHook::SetCurrent(BlockingHook* hook) { current_hook = hook; }

}  // namespace cf::internal
