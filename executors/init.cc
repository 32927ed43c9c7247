#include "executors/init.h"

#include <atomic>

namespace cf {
namespace {
std::atomic<bool> initialized{false};
}  // namespace

void Init(int, char**) { initialized.store(true); }
bool Initialized() { return initialized.load(); }

}  // namespace cf
