// Helpers shared by the process-pool tests.
#ifndef CF_TESTS_PROCESS_PROCESS_TEST_UTIL_H_
#define CF_TESTS_PROCESS_PROCESS_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
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

// The processes whose parent is `pid`, zombies included.
inline std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    FILE* f = std::fopen((entry.path() / "stat").c_str(), "r");
    if (f == nullptr) continue;
    // "pid (comm) state ppid": comm may hold spaces, so skip past ')'.
    char line[512];
    const bool ok = std::fgets(line, sizeof(line), f) != nullptr;
    std::fclose(f);
    if (!ok) continue;
    const char* paren = std::strrchr(line, ')');
    char state;
    int ppid;
    if (paren != nullptr && std::sscanf(paren + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == pid) {
      children.push_back(static_cast<pid_t>(std::stoi(name)));
    }
  }
  return children;
}

// Sets an environment variable for one scope; workers started meanwhile
// inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A fresh directory under Bazel's TEST_TMPDIR (or /tmp), removed with the
// object.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix = "cf_test_") {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ =
        std::string(base != nullptr ? base : "/tmp") + "/" + prefix + "XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + templ);
    }
    path_ = templ;
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

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
