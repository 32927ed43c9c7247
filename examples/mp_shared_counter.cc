// Seed 001, part 4, ported: nine processes add 50 each to a shared
// cf::Value<int>. Python's `v.value += 1` takes the value's lock for the
// read and again for the write, so updates get lost (the seed printed 400,
// not 450); holding get_lock() around the increment makes it exact.
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <vector>

#include "cf.h"

// `v.value += 1`: read and write each under the lock, not the pair.
void generate_update_number(cf::Value<int> v) {
  for (int i = 0; i < 50; ++i) v.set_value(v.value() + 1);
  std::printf("%s data %d\n", cf::current_process().name().c_str(), v.value());
}

// `with v.get_lock(): v.value += 1`.
void generate_update_number_locked(cf::Value<int> v) {
  for (int i = 0; i < 50; ++i) {
    std::lock_guard<cf::RLock> guard(v.get_lock());
    v.set_value(v.value() + 1);
  }
  std::printf("%s data %d\n", cf::current_process().name().c_str(), v.value());
}

int run(void (*target)(cf::Value<int>)) {
  cf::Value<int> share_value(0);  // Python: Value('i', 0)
  std::vector<cf::Process> processes;
  for (int i = 1; i < 10; ++i) {
    processes.emplace_back(target, share_value);
    processes.back().start();
  }
  for (cf::Process& p : processes) p.join();
  std::printf("Final Data in parent process: %d\n", share_value.value());
  return share_value.value();
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  std::printf("Parent process ID: %d\n", getpid());
  std::fflush(stdout);
  const int racy = run(generate_update_number);
  std::printf("(without get_lock(): %d of 450; updates may be lost)\n", racy);
  std::fflush(stdout);
  const int exact = run(generate_update_number_locked);
  return racy <= 450 && exact == 450 ? 0 : 1;
}
