// The README's first example: submit, map and as_completed on a thread pool.
#include <iostream>
#include <vector>

#include "cf.h"

int square(int x) { return x * x; }

int main() {
  cf::ThreadPoolExecutor pool(4);

  cf::Future<int> f = pool.submit(square, 7);
  std::cout << "square(7) = " << f.result() << "\n";

  std::vector<int> inputs = {1, 2, 3, 4, 5};
  for (int r : pool.map(square, inputs)) std::cout << r << " ";
  std::cout << "\n";

  std::vector<cf::Future<int>> futures;
  for (int x : inputs) futures.push_back(pool.submit(square, x));
  int total = 0;
  for (cf::Future<int> done : cf::as_completed(futures)) total += done.result();
  std::cout << "total = " << total << "\n";
  return total == 55 ? 0 : 1;
}
