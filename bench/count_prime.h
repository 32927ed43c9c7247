// Seed 004's benchmark function, ported exactly: the same algorithm and the
// same amount of work per call, so that C++ and Python results and timings
// compare call for call.
//
// The seed's is_prime(x) scans every candidate divisor 2..isqrt(x) and tests
// it against n (the closure's variable), not x, with no early exit; "prime"
// then means "n has a divisor up to sqrt(x)". The sum of count_prime(n) over
// n in range(9900, 10000) is 881411.
#ifndef CF_BENCH_COUNT_PRIME_H_
#define CF_BENCH_COUNT_PRIME_H_

namespace cf_bench {

inline constexpr int kSeedFirst = 9900;
inline constexpr int kSeedLast = 10000;  // exclusive, as Python's range
inline constexpr long long kSeedChecksum = 881411;

int count_prime(int n);

}  // namespace cf_bench

#endif  // CF_BENCH_COUNT_PRIME_H_
