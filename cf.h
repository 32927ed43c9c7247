// cf: Python's concurrent.futures for C++. The one include, like Python's
// `import concurrent.futures`; link the Bazel target //:cf (workspace `cf`).
//
//   #include "cf.h"
//
//   int square(int x) { return x * x; }
//
//   int main() {
//     cf::ThreadPoolExecutor pool(4);     // or cf::ProcessPoolExecutor
//     cf::Future<int> f = pool.submit(square, 7);
//     for (int r : pool.map(square, std::vector<int>{1, 2, 3})) ...
//     return f.result() == 49 ? 0 : 1;
//   }
//
// The semantics are Python's, state by state and exception by exception; the
// headers below document each piece.
#ifndef CF_CF_H_
#define CF_CF_H_

#include "executors/current_process.h"       // IWYU pragma: export
#include "executors/executor.h"              // IWYU pragma: export
#include "executors/init.h"                  // IWYU pragma: export
#include "executors/map_result.h"            // IWYU pragma: export
#include "executors/mp_errors.h"             // IWYU pragma: export
#include "executors/parallel_map.h"  // IWYU pragma: export (Pool, progress)
#include "executors/pipe.h"                  // IWYU pragma: export
#include "executors/process.h"               // IWYU pragma: export
#include "executors/process_pool_executor.h"  // IWYU pragma: export
#include "executors/queue.h"                 // IWYU pragma: export
#include "executors/remote_error.h"          // IWYU pragma: export
#include "executors/shared_value.h"          // IWYU pragma: export
#include "executors/synchronize.h"           // IWYU pragma: export
#include "executors/thread_pool_executor.h"  // IWYU pragma: export
#include "futures/as_completed.h"            // IWYU pragma: export
#include "futures/errors.h"                  // IWYU pragma: export
#include "futures/future.h"                  // IWYU pragma: export
#include "futures/wait.h"                    // IWYU pragma: export

#endif  // CF_CF_H_
