// Seed 003 (multiprocessing.Pool and its eight methods), every program in
// turn: Pool(5).map(f, [1, 2, 3]); work_func over range(12) on Pool(4),
// printing pids; and the "calculate" program that runs mul and plus tasks
// through map, apply_async, imap and imap_unordered, each result saying
// which worker computed it (current_process().name: "ForkPoolWorker-N", as
// Python prints it), here extended to all eight methods the seed lists.
//
// Python passes the functions themselves inside the task tuples; a worker
// process can only be sent data, so the tasks name them ("mul", "plus").
// The seed's sleeps (1 s; up to 0.5 s) are shortened to keep CI fast.
#include <unistd.h>

#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

int f(int x) { return x * x; }

long long work_func(int x) {
  std::cout << "work_func: " << x << " PID " << getpid() << std::endl;
  absl::SleepFor(absl::Milliseconds(100));  // the seed: 1 s
  long long r = 1;
  for (int i = 0; i < 5; ++i) r *= x;
  return r;  // x ** 5
}

void RandomSleep() {  // the seed: time.sleep(0.5 * random.random())
  thread_local std::mt19937 random(getpid());
  absl::SleepFor(absl::Microseconds(std::uniform_int_distribution<int>(0, 5000)(random)));
}
int mul(int a, int b) {
  RandomSleep();
  return a * b;
}
int plus(int a, int b) {
  RandomSleep();
  return a + b;
}

// A task: which function, and its arguments.
using Task = std::tuple<std::string, int, int>;

// calculate(func, args): "<worker> says that mul(3, 7) = 21".
std::string calculate(std::string func, int a, int b) {
  const int result = func == "mul" ? mul(a, b) : plus(a, b);
  return absl::StrCat(cf::current_process().name(), " says that ", func, "(",
                      a, ", ", b, ") = ", result);
}
// calculatestar(args): calculate(*args).
std::string calculatestar(Task t) {
  return std::apply(calculate, std::move(t));
}

template <class Range>
void Print(const char* title, Range&& results) {
  std::cout << title << std::endl;
  for (const std::string& r : results) std::cout << "\t " << r << std::endl;
  std::cout << std::endl;
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);

  {  // with Pool(5) as p: print(p.map(f, [1, 2, 3]))
    cf::Pool p(5);
    std::vector<int> r = p.map(f, std::vector<int>{1, 2, 3});
    std::cout << "[" << r[0] << ", " << r[1] << ", " << r[2] << "]" << std::endl;
  }

  {  // pool = Pool(4); print(pool.map(work_func, range(0, 12)))
    const absl::Time start = absl::Now();
    cf::Pool pool(4);
    std::vector<long long> r = pool.map(work_func, std::views::iota(0, 12));
    std::cout << "[";
    for (std::size_t i = 0; i < r.size(); ++i) std::cout << (i ? ", " : "") << r[i];
    std::cout << "]" << std::endl;
    std::cout << "***run time(sec) : "
              << absl::ToInt64Seconds(absl::Now() - start) << std::endl;
  }

  const int num_of_tasks = 10;
  std::vector<Task> tasks;
  for (int i = 0; i < num_of_tasks; ++i) tasks.emplace_back("mul", i, 7);
  for (int i = 0; i < num_of_tasks; ++i) tasks.emplace_back("plus", i, 8);

  std::multiset<std::string> unordered, expected;
  {
    cf::Pool pool(4);
    std::vector<std::string> map_result = pool.map(calculatestar, tasks);
    std::vector<cf::AsyncResult<std::string>> async_result;
    for (const Task& t : tasks) {
      async_result.push_back(std::apply(
          [&](const std::string& func, int a, int b) {
            return pool.apply_async(calculate, func, a, b);
          },
          t));
    }
    auto imap_result = pool.imap(calculatestar, tasks);
    auto imap_unordered_result = pool.imap_unordered(calculatestar, tasks);

    Print("Ordered results - map():", map_result);
    std::cout << "Ordered async_results - apply_async():" << std::endl;
    for (auto& r : async_result) std::cout << "\t " << r.get() << std::endl;
    std::cout << std::endl;
    Print("Ordered results - imap():", imap_result);
    std::cout << "Unordered results - imap_unordered():" << std::endl;
    for (const std::string& r : imap_unordered_result) {
      std::cout << "\t " << r << std::endl;
      unordered.insert(r.substr(r.find(" says")));
    }
    std::cout << std::endl;
    for (const std::string& r : map_result) expected.insert(r.substr(r.find(" says")));

    // The other four of the seed's eight methods.
    std::cout << "Ordered results - apply():" << std::endl;
    std::cout << "\t " << pool.apply(calculate, std::string("mul"), 6, 7) << std::endl;
    std::cout << std::endl;
    Print("Ordered results - map_async():",
          pool.map_async(calculatestar, tasks).get());
    Print("Ordered results - starmap():", pool.starmap(calculate, tasks));
    Print("Ordered results - starmap_async():",
          pool.starmap_async(calculate, tasks).get());
  }
  if (unordered != expected) {
    std::cerr << "imap_unordered did not yield the same results as map\n";
    return 1;
  }
  return 0;
}
