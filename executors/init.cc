#include "executors/init.h"

#include "executors/transport/reexec.h"

namespace cf {

void Init(int argc, char** argv) { internal::InitProcess(argc, argv); }
bool Initialized() { return internal::ProcessInitialized(); }

}  // namespace cf
