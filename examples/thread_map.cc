// Seed 004's benchmark function mapped over a thread pool: count_prime(n) for
// n in range(9900, 10000), as the seed does with ThreadPoolExecutor(4).map.
#include <cstdint>
#include <iostream>
#include <ranges>

#include "bench/count_prime.h"
#include "cf.h"

int main() {
  cf::ThreadPoolExecutor executor(4);
  std::int64_t sum = 0;
  for (int r : executor.map(cf_bench::count_prime, std::views::iota(9900, 10000))) {
    sum += r;
  }
  std::cout << "sum of count_prime over range(9900, 10000) = " << sum << "\n";
  return sum == cf_bench::kSeedChecksum ? 0 : 1;
}
