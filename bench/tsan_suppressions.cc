// ThreadSanitizer suppressions for the benchmark binaries: cf's, plus one for
// the oneTBB peer. A program has one __tsan_default_suppressions, so this
// replaces //futures:tsan_suppressions rather than adding to it.
//
// Debian's libtbb is not built with -fsanitize=thread: the task_group hands a
// task to a worker through atomics inside libtbb that TSan cannot see, so the
// worker reading the task's captures is reported as racing with the thread
// that constructed it. Only stacks passing through oneTBB's headers are
// silenced; cf's own code keeps its full TSan coverage.
#include "futures/tsan_suppressions.h"

extern "C" const char* __tsan_default_suppressions() {
  return CF_TSAN_SUPPRESSIONS "race:oneapi/tbb/\n";
}
