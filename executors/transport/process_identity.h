// Who this process is, in multiprocessing's terms: "MainProcess" until a
// parent names it, and the pid of the parent that started it. Worker
// processes of every kind (pool workers, cf::Process children) get their
// name from their parent in an identity frame before any task.
//
// The one thing to know: numbers come from one counter per process, as
// Python's `_process_counter`, so names like "ForkProcess-3" are unique among
// the children of one parent, whatever started them.
//
//   internal::SetProcessIdentity({.name = "SpawnPoolWorker-2", ...});
//   internal::CurrentProcessIdentity().name;   // "SpawnPoolWorker-2"
#ifndef CF_EXECUTORS_TRANSPORT_PROCESS_IDENTITY_H_
#define CF_EXECUTORS_TRANSPORT_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <string>

namespace cf::internal {

struct ProcessIdentity {
  std::string name = "MainProcess";
  pid_t parent_pid = 0;  // 0: started by no cf parent (the main process)
  bool daemon = false;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(name, parent_pid, daemon);
  }
};

// This process's identity. Set once, before a worker runs anything else.
const ProcessIdentity& CurrentProcessIdentity();
void SetProcessIdentity(ProcessIdentity identity);

// The next number for a child's name (1, 2, ...), shared by every kind of
// child this process starts.
int NextProcessNumber();
// Starts the numbers again at 1, as Python does in a new child process.
void ResetProcessNumbers();

// "Fork", "Spawn" or "ForkServer" + `kind` + "-" + number, as Python names
// children by start method ("ForkProcess-1", "SpawnPoolWorker-2").
std::string ChildName(const char* method, const char* kind, int number);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_PROCESS_IDENTITY_H_
