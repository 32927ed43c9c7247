// Helpers shared by the process-pool tests.
#ifndef CF_TESTS_PROCESS_PROCESS_TEST_UTIL_H_
#define CF_TESTS_PROCESS_PROCESS_TEST_UTIL_H_

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cf.h"

namespace cf_process_test {

// Whether `pid` is a running process; a zombie counts as dead.
inline bool IsAlive(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char state = '?';
  int ignored_pid;
  char comm[256];
  const int n = std::fscanf(f, "%d %255s %c", &ignored_pid, comm, &state);
  std::fclose(f);
  return n == 3 && state != 'Z' && state != 'X';
}

// The start methods every process-pool test runs under.
inline std::vector<cf::StartMethod> StartMethods() {
  return {cf::StartMethod::kFork, cf::StartMethod::kSpawn,
          cf::StartMethod::kForkServer};
}

inline std::string StartMethodName(cf::StartMethod method) {
  switch (method) {
    case cf::StartMethod::kFork:
      return "Fork";
    case cf::StartMethod::kSpawn:
      return "Spawn";
    case cf::StartMethod::kForkServer:
      return "ForkServer";
  }
  return "Unknown";
}

}  // namespace cf_process_test

#endif  // CF_TESTS_PROCESS_PROCESS_TEST_UTIL_H_
