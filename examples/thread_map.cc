// Seed 004's benchmark function, mapped over a thread pool: count_prime(n) for
// n in [9900, 10000), exactly as the seed writes it (the same work per call).
#include <cmath>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <ranges>

#include "cf.h"

// The seed's closure: is_prime(x) scans every candidate divisor of x and
// tests it against n (not x), with no early exit.
int count_prime(int n) {
  auto is_prime = [n](int x) {
    int divisors = 0;
    for (int i = 2; i <= static_cast<int>(std::sqrt(x)); ++i) {
      if (n % i == 0) ++divisors;
    }
    return divisors > 0;
  };
  int count = 0;
  for (int i = 2; i <= n; ++i) count += is_prime(i) ? 1 : 0;
  return count;
}

int main() {
  cf::ThreadPoolExecutor executor(4);
  std::int64_t sum = 0;
  for (int r : executor.map(count_prime, std::views::iota(9900, 10000))) {
    sum += r;
  }
  std::cout << "sum of count_prime over range(9900, 10000) = " << sum << "\n";
  return sum == 881411 ? 0 : 1;
}
