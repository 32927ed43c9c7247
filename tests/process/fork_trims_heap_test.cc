// A kFork worker shares the parent's pages copy-on-write, so each page the
// parent writes later is copied. Free heap memory is handed back to the
// kernel before the fork (malloc_trim), so the parent's next allocations
// reuse fresh pages instead of copying shared ones: a worker does not map
// the memory its parent had freed.
#include <stdio.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cf.h"
#include "gtest/gtest.h"

namespace {

// This process's resident memory, in KiB (VmRSS).
long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

long WorkerResidentKiB() { return ResidentKiB(); }

TEST(ForkTrimsHeapTest, AWorkerDoesNotMapWhatItsParentFreed) {
  // 64 MiB in small blocks, then all but every 64th block freed: the heap
  // cannot shrink from its top, so without a trim the freed pages stay
  // mapped (and resident) in the parent, and at a fork in the child too.
  constexpr int kBlocks = 16384;
  std::vector<char*> blocks(kBlocks);
  for (char*& b : blocks) {
    b = static_cast<char*>(std::malloc(4000));
    for (int i = 0; i < 4000; i += 512) b[i] = 1;  // resident
  }
  for (int i = 0; i < kBlocks; ++i) {
    if (i % 64 != 63) {
      std::free(blocks[i]);
      blocks[i] = nullptr;
    }
  }
  const long parent = ResidentKiB();
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = cf::StartMethod::kFork});
  const long worker = pool.submit(WorkerResidentKiB).result();
  EXPECT_LT(worker, parent - 32 * 1024)
      << "parent " << parent << " KiB before the fork, worker " << worker
      << " KiB";
  for (char* b : blocks) std::free(b);
}

}  // namespace
