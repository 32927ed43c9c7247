// ThreadSanitizer suppressions for programs that use cf, compiled in (TSan
// asks the program for them). Link @cf//futures:tsan_suppressions into a
// TSan build of your program; cf's own tests and examples do. What they
// silence, and why: futures/tsan_suppressions.h.
#include "futures/tsan_suppressions.h"

extern "C" const char* __tsan_default_suppressions() {
  return CF_TSAN_SUPPRESSIONS;
}
