// Seeds 001 and 002, ported: cf::Process with join / is_alive / terminate,
// nine named processes printing their pid and name through
// cf::current_process(), and the main process's own name.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cf.h"

// Seed 001, part 1: the function the sub-process runs.
void process_function(std::string name) {
  std::printf("This is Sub-Process %s: starting\n", name.c_str());
  std::fflush(stdout);
  usleep(300 * 1000);  // the seed sleeps 3 s
  std::printf("This is Sub-Process %s: finishing\n", name.c_str());
}

// Seed 001, part 2: each process squares its number.
void square(int n) {
  usleep(100 * 1000);
  std::printf("Process ID: %d, Process name: %s, result is: %d\n", getpid(),
              cf::current_process().name().c_str(), n * n);
}

// Seed 002: a named sub-process.
void worker() { std::printf("SubProcess End\n"); }

void sleep_long() { usleep(60 * 1000 * 1000); }

int main(int argc, char** argv) {
  cf::Init(argc, argv);
  int failures = 0;

  // Seed 002: the main process has a name and a pid too.
  std::printf("%s\n%d\n", cf::current_process().name().c_str(),
              cf::current_process().pid());
  failures += cf::current_process().name() != "MainProcess";

  // Seed 001, part 1: start, join, is_alive.
  cf::Process p(process_function, std::string("First"));
  std::printf("Main-Process: before creating Process\n");
  p.start();
  std::printf("Main-Process: During Process...\n");
  std::printf("Main-Process: Joined Process\n");
  std::fflush(stdout);
  p.join();
  std::printf("Process p is alive: %s\n", p.is_alive() ? "True" : "False");
  failures += p.is_alive() || p.exitcode() != 0;

  // ... and terminate(): exit code -15 (SIGTERM), as in Python.
  cf::Process stuck(sleep_long);
  stuck.start();
  std::printf("Main-Process: Terminated Process: %s\n",
              cf::to_string(stuck).c_str());
  stuck.terminate();
  stuck.join();
  std::printf("exitcode: %d\n", stuck.exitcode().value_or(0));
  failures += stuck.exitcode() != -15;

  // Seed 001, part 2: nine processes named name1 ... name9.
  std::printf("Parent process id: %d\n", getpid());
  std::fflush(stdout);
  std::vector<cf::Process> processes;
  for (int i = 1; i < 10; ++i) {
    processes.emplace_back(cf::ProcessOptions{.name = "name" + std::to_string(i)},
                           square, i);
    processes.back().start();
  }
  for (cf::Process& process : processes) {
    process.join();
    failures += process.exitcode() != 0;
  }
  std::printf("parent process is done\n");

  // Seed 002: Process(name="SubProcess", target=worker), here re-executed
  // (kSpawn), which is why main() calls cf::Init first.
  cf::Process sub({.name = "SubProcess", .start_method = cf::StartMethod::kSpawn},
                  worker);
  std::fflush(stdout);
  sub.start();
  sub.join();
  failures += sub.exitcode() != 0;
  return failures == 0 ? 0 : 1;
}
