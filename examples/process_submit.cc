// Seed 004's process examples: two tasks on a pool of two worker processes,
// each printing its pid; a task that crashes its worker does not take the
// program down, it breaks the pool with an error that says what happened.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <set>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

int task() {
  std::cout << "executing our task on process " << getpid() << std::endl;
  absl::SleepFor(absl::Milliseconds(100));
  return static_cast<int>(getpid());
}

int crash() {
  raise(SIGSEGV);
  return 0;
}

int main() {
  std::set<int> pids;
  {
    cf::ProcessPoolExecutor executor(2);  // like `with ProcessPoolExecutor(2)`
    cf::Future<int> task1 = executor.submit(task);
    cf::Future<int> task2 = executor.submit(task);
    pids = {task1.result(), task2.result()};
  }
  std::cout << "all tasks complete" << std::endl;

  cf::ProcessPoolExecutor fragile(1);
  try {
    fragile.submit(crash).result();
  } catch (const cf::BrokenProcessPool& e) {
    std::cout << "caught: " << e.what() << std::endl;
  }
  return pids.size() == 2 && !pids.contains(getpid()) ? 0 : 1;
}
