// Seed 001, part 5.2, ported: a child counts to 10000, sends the count
// through a cf::Pipe and closes its end; the parent receives it. Then the
// same with a one-way Pipe(false), where the parent sees EOF once the child
// is gone.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cf.h"

void worker(std::string id, int base_num, cf::Connection<int> conn) {
  (void)id;
  int sub_total = 0;
  for (int i = 0; i < base_num; ++i) sub_total += 1;
  conn.send(sub_total);  // the child sends
  conn.close();          // and closes its end
  std::printf("Process ID: %d Process Name: %s\nResult is: %d\n", getpid(),
              cf::current_process().name().c_str(), sub_total);
}

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  std::printf("Parent process ID: %d\n", getpid());
  std::fflush(stdout);
  const auto start_time = std::chrono::steady_clock::now();
  auto [parent_conn, child_conn] = cf::Pipe<int>();
  cf::Process p({.name = "child"}, worker, std::string("child"), 10000,
                child_conn);
  p.start();
  p.join();
  std::printf("---- %.6f seconds ----\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start_time)
                  .count());
  const int total = parent_conn.recv();  // the parent receives
  std::printf("Main-Processing Total Count: %d\n", total);
  std::printf("Multi process is Done! \n");

  // One-way: the child's end is closed here too, so its exit is the EOF.
  auto [reader, writer] = cf::Pipe<int>(false);
  cf::Process q(worker, std::string("one-way"), 3, writer);
  q.start();
  writer.close();
  const int three = reader.recv();
  bool eof = false;
  try {
    reader.recv();
  } catch (const cf::EOFError&) {
    eof = true;
  }
  q.join();
  std::printf("one-way pipe: %d, then EOF: %s\n", three, eof ? "yes" : "no");
  return total == 10000 && three == 3 && eof ? 0 : 1;
}
