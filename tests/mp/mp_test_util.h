// Helpers shared by the multiprocessing tests (tests/mp): the start methods
// as a gtest parameter, files to hear back from children, and polling.
#ifndef CF_TESTS_MP_MP_TEST_UTIL_H_
#define CF_TESTS_MP_MP_TEST_UTIL_H_

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "cf.h"
#include "gtest/gtest.h"
#include "tests/process/process_test_util.h"

namespace cf_mp_test {

using cf_process_test::IsAlive;
using cf_process_test::ScopedTempDir;
using cf_process_test::StartMethodName;
using cf_process_test::StartMethods;

inline std::string ParamName(
    const testing::TestParamInfo<cf::StartMethod>& info) {
  return StartMethodName(info.param);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path + ".tmp");
  out << text;
  out.close();
  std::rename((path + ".tmp").c_str(), path.c_str());
}

// What `f` throws (its what()), or "(no exception)".
template <class F>
std::string MessageOf(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

// Polls `done` every millisecond for up to `seconds`.
inline bool WaitFor(const std::function<bool()>& done, double seconds = 10) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

// Descriptors open in this process.
inline int OpenFdCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

// Lines of /proc/self/maps naming cf's shared memory.
inline int SharedMappingCount() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) n += line.find("memfd:cf-") != std::string::npos;
  return n;
}

}  // namespace cf_mp_test

#endif  // CF_TESTS_MP_MP_TEST_UTIL_H_
