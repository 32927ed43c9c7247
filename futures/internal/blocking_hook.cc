#include "futures/internal/blocking_hook.h"

namespace cf::internal {
namespace {
thread_local BlockingHook* current_hook = nullptr;
}  // namespace

BlockingHook* BlockingHook::Current() { return current_hook; }
void BlockingHook::SetCurrent(BlockingHook* hook) { current_hook = hook; }

}  // namespace cf::internal
