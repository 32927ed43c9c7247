// cf::current_process(): multiprocessing.current_process() for C++. In the
// main program its name is "MainProcess"; in a worker, the name its parent
// gave it ("ForkProcess-1" for a ProcessPoolExecutor worker,
// "SpawnPoolWorker-2" for a cf::Pool one), as Python names them.
//
// The one thing to know: the name is set before a worker runs its first
// task or initializer, so tasks may print it, as the seeds do.
//
//   int work(int x) {
//     std::printf("%s: %d\n", cf::current_process().name().c_str(), x);
//     return x * x;
//   }
#ifndef CF_EXECUTORS_CURRENT_PROCESS_H_
#define CF_EXECUTORS_CURRENT_PROCESS_H_

#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "executors/transport/process_identity.h"

namespace cf {

class CurrentProcess {
 public:
  const std::string& name() const {
    return internal::CurrentProcessIdentity().name;
  }
  pid_t pid() const { return getpid(); }
  pid_t ident() const { return getpid(); }  // Python's alias of pid
  bool daemon() const { return internal::CurrentProcessIdentity().daemon; }
};

inline CurrentProcess current_process() { return {}; }

}  // namespace cf

#endif  // CF_EXECUTORS_CURRENT_PROCESS_H_
