// The README's multiprocessing example: a Process, a Value added to under its
// lock, a Queue and a Pipe.
#include <cstdio>
#include <mutex>
#include <string>

#include "cf.h"

void work(int n, cf::Value<int> total, cf::Queue<std::string> q,
          cf::Connection<int> conn) {
  {
    std::lock_guard<cf::RLock> guard(total.get_lock());
    total.set_value(total.value() + n);
  }
  q.put(cf::current_process().name() + " done");
  conn.send(n * n);
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);  // kSpawn and kForkServer run this program again
  cf::Value<int> total(0);
  cf::Queue<std::string> q;
  auto [mine, theirs] = cf::Pipe<int>();
  cf::Process p({.name = "worker", .start_method = cf::StartMethod::kSpawn},
                work, 7, total, q, theirs);
  p.start();
  theirs.close();  // only the child holds that end now
  std::printf("%s, got %d\n", q.get().c_str(), mine.recv());
  p.join();
  std::printf("exitcode %d, total %d\n", p.exitcode().value_or(-1),
              total.value());
  return p.exitcode() == 0 && total.value() == 7 ? 0 : 1;
}
