// Seed 000 ("multiprocessing 2", a chapter on multiprocessing.Pool), every
// program in turn: the pool as a context manager, apply (one task at a
// time, blocking) and apply_async (tasks in parallel, then their results in
// order). The seed sleeps 1 s per task; 200 ms here keeps CI fast and still
// shows apply's serial time against apply_async's parallel one.
#include <unistd.h>

#include <iostream>
#include <variant>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

constexpr absl::Duration kSleep = absl::Milliseconds(200);  // the seed: 1 s

void task(int n) { std::cout << n << std::endl; }

int myTask(int n) {
  std::cout << "Task processed by Process " << getpid() << std::endl;
  absl::SleepFor(kSleep);
  return n * 2;
}

int myTask1(int n) {
  std::cout << "Task processed by Process " << getpid() << std::endl;
  return n * 2;
}

int myTask1Sleeping(int n) {
  std::cout << "Task processed by Process " << getpid() << std::endl;
  absl::SleepFor(kSleep);
  return n * 2;
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);

  // with Pool(4) as p: print(p.map(task, [2, 3, 4]))
  {
    cf::Pool p(4);
    std::vector<std::monostate> nones = p.map(task, std::vector<int>{2, 3, 4});
    std::cout << "[";
    for (std::size_t i = 0; i < nones.size(); ++i) {
      std::cout << (i ? ", " : "") << "None";
    }
    std::cout << "]" << std::endl;
  }

  // apply: each call blocks until its result is back.
  absl::Duration apply_time;
  {
    cf::Pool p(4);
    const absl::Time start = absl::Now();
    std::cout << p.apply(myTask, 4) << std::endl;
    std::cout << p.apply(myTask, 3) << std::endl;
    std::cout << p.apply(myTask, 2) << std::endl;
    std::cout << p.apply(myTask, 1) << std::endl;
    apply_time = absl::Now() - start;
    std::cout << "Time : " << absl::ToDoubleSeconds(apply_time) << std::endl;
  }

  // apply_async: four tasks at once, then wait() and get() in order.
  std::cout << "apply_async" << std::endl;
  {
    cf::Pool p(4);
    std::vector<cf::AsyncResult<int>> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(p.apply_async(myTask1, i));
    for (auto& task : tasks) {
      task.wait();
      std::cout << "Result: " << task.get() << std::endl;
    }
  }

  // The same with the sleep: the four run in parallel.
  std::cout << "apply_async" << std::endl;
  absl::Duration async_time;
  {
    cf::Pool p(4);
    const absl::Time start = absl::Now();
    std::vector<cf::AsyncResult<int>> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(p.apply_async(myTask1Sleeping, i));
    for (auto& task : tasks) {
      task.wait();
      std::cout << "Result: " << task.get() << std::endl;
    }
    async_time = absl::Now() - start;
    std::cout << "Time : " << absl::ToDoubleSeconds(async_time) << std::endl;
  }
  // The seed's point: 4 sleeps one after another, against about one.
  const bool ok = apply_time >= 4 * kSleep && async_time < 3 * kSleep;
  if (!ok) std::cerr << "apply should take 4 sleeps, apply_async about one\n";
  return ok ? 0 : 1;
}
