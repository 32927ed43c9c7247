// The design in one file: code written against cf::Executor& runs unchanged
// on threads and on worker processes.
#include <cstdint>
#include <iostream>
#include <unistd.h>
#include <vector>

#include "cf.h"

std::int64_t sum_of_squares(int n) {
  std::int64_t sum = 0;
  for (int i = 1; i <= n; ++i) sum += std::int64_t{i} * i;
  return sum;
}

int where() { return static_cast<int>(getpid()); }

std::int64_t run(cf::Executor& executor) {
  std::vector<int> inputs = {10, 100, 1000};
  std::int64_t total = 0;
  for (std::int64_t r : executor.map(sum_of_squares, inputs)) total += r;
  return total;
}

int main() {
  cf::ThreadPoolExecutor threads(2);
  cf::ProcessPoolExecutor processes(2);
  std::int64_t on_threads = run(threads);
  std::int64_t on_processes = run(processes);
  std::cout << "threads: " << on_threads << ", processes: " << on_processes
            << "\n";
  // The process pool really ran elsewhere.
  bool elsewhere = processes.submit(where).result() != getpid();
  return on_threads == on_processes && on_threads == 334'172'235 && elsewhere
             ? 0
             : 1;
}
