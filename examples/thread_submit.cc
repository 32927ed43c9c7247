// Seed 004's first example, with threads: two tasks on a pool of two, each
// saying where it runs. The pool is scoped: leaving main's scope waits for
// both, as Python's `with ThreadPoolExecutor(2) as executor:` does.
#include <iostream>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

std::mutex print_mu;

std::string task() {
  {
    std::lock_guard<std::mutex> lock(print_mu);
    std::cout << "executing our task on thread "
              << cf::ThreadPoolExecutor::current_thread_name() << std::endl;
  }
  absl::SleepFor(absl::Milliseconds(100));
  return cf::ThreadPoolExecutor::current_thread_name();
}

int main() {
  std::string first, second;
  {
    cf::ThreadPoolExecutor executor({.max_workers = 2, .thread_name_prefix = "worker"});
    cf::Future<std::string> task1 = executor.submit(task);
    cf::Future<std::string> task2 = executor.submit(task);
    first = task1.result();
    second = task2.result();
  }  // shutdown(wait=true) here
  std::cout << "all tasks complete" << std::endl;
  return first != second ? 0 : 1;  // the sleep spreads them over both threads
}
