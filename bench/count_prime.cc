#include "bench/count_prime.h"

#include <cmath>

namespace cf_bench {

int count_prime(int n) {
  // def is_prime(x):
  //     return bool([i for i in range(2, int(math.sqrt(x))+1) if not n % i])
  auto is_prime = [n](int x) {
    int divisors = 0;
    const int last = static_cast<int>(std::sqrt(static_cast<double>(x)));
    for (int i = 2; i <= last; ++i) {
      if (n % i == 0) ++divisors;  // the list comprehension keeps scanning
    }
    return divisors > 0;
  };
  // return len([i for i in range(2, n+1) if is_prime(i)])
  int count = 0;
  for (int i = 2; i <= n; ++i) count += is_prime(i) ? 1 : 0;
  return count;
}

}  // namespace cf_bench
