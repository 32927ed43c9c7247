// Seed 001, part 5.1, ported: five processes count to 10000 and put their
// counts on a cf::Queue; the parent joins them, puts an 'exit' marker and
// adds up what it gets. The queue carries ints and the string 'exit', as the
// seed's Python queue does, through a std::variant.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "cf.h"

using Item = std::variant<int, std::string>;

void worker(int id, int base_num, cf::Queue<Item> q) {
  (void)id;
  int sub_total = 0;
  for (int i = 0; i < base_num; ++i) sub_total += 1;
  q.put(sub_total);  // produce
  std::printf("Process ID: %d Process Name: %s\nResult is: %d\n", getpid(),
              cf::current_process().name().c_str(), sub_total);
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  std::printf("Parent process ID: %d\n", getpid());
  std::fflush(stdout);
  const auto start_time = std::chrono::steady_clock::now();
  cf::Queue<Item> q;
  std::vector<cf::Process> processes;
  for (int i = 0; i < 5; ++i) {
    processes.emplace_back(cf::ProcessOptions{.name = std::to_string(i)},
                           worker, i, 10000, q);
    processes.back().start();
  }
  for (cf::Process& process : processes) process.join();
  std::printf("---- %.6f seconds ----\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start_time)
                  .count());
  q.put(std::string("exit"));  // the end marker
  int total = 0;
  while (true) {
    const Item tmp = q.get();
    if (std::holds_alternative<std::string>(tmp)) break;
    total += std::get<int>(tmp);
  }
  std::printf("Main-Processing Total Count: %d\n", total);
  std::printf("Multi process is Done! \n");
  return total == 50000 ? 0 : 1;
}
