// Child programs for fault_test.cc: faults that only show in a whole
// program (what it prints to a file, how it exits).
//
// Usage: fault_child <mode> <Fork|Spawn|ForkServer>
//   print_before_pool  prints a line into a fully buffered stdout, then runs
//                      a pool whose tasks print one line each
//   static_pool_exit   a function-local static pool whose task calls
//                      std::exit(7); the program must still exit
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cf.h"

namespace {

cf::StartMethod method = cf::StartMethod::kFork;

int PrintTask(int x) {
  std::printf("task %d\n", x);
  return x;
}

int ExitSeven(int) { std::exit(7); }

int PrintBeforePool() {
  std::printf("before the pool\n");  // stdout is a file: still buffered
  {
    cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
    std::vector<int> in = {1, 2, 3, 4};
    for (int r : pool.map(PrintTask, in)) (void)r;
  }
  std::printf("after the pool\n");
  return 0;
}

cf::ProcessPoolExecutor& StaticPool() {
  static cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = method});
  return pool;
}

int StaticPoolExit() {
  try {
    StaticPool().submit(ExitSeven, 0).result();
    std::printf("no error\n");
  } catch (const cf::BrokenProcessPool& e) {
    std::printf("BrokenProcessPool: %s\n", e.what());
  }
  return 0;  // exit() now runs the static pool's destructor
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: fault_child <mode> <method>\n");
    return 2;
  }
  const std::string m = argv[2];
  method = m == "Spawn"        ? cf::StartMethod::kSpawn
           : m == "ForkServer" ? cf::StartMethod::kForkServer
                               : cf::StartMethod::kFork;
  const std::string mode = argv[1];
  if (mode == "print_before_pool") return PrintBeforePool();
  if (mode == "static_pool_exit") return StaticPoolExit();
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
