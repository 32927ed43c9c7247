#include "cf.h"
#include <iostream>
int square(int x) { return x * x; }
int main() { cf::ThreadPoolExecutor pool(2); auto f = pool.submit(square, 7); std::cout << f.result() << "\n"; return f.result() == 49 ? 0 : 1; }
