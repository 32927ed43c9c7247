// cf::Process: multiprocessing.Process for C++, with current_process(),
// parent_process() and active_children(). A target (a free function or a
// captureless lambda, with cereal-serializable arguments, as for the process
// pool) runs in a child process started by fork, spawn or the fork server.
//
// The one thing to know: exit codes are Python's. exitcode() is empty while
// the child runs, -N when a signal N ended it, and 1 after an uncaught
// exception, whose type, what() and throw-site stack the child prints to
// stderr as Python prints a traceback. A daemon child dies with its parent,
// even when the parent is SIGKILLed; when the parent exits normally it
// terminates its daemon children and waits for the others, as Python does.
// Shared objects (cf::Value, cf::Queue, cf::Connection, cf::Lock, ...) reach
// a child only as arguments: start() returns once the child holds them.
//
//   void square(int n) {
//     std::printf("%s: %d\n", cf::current_process().name().c_str(), n * n);
//   }
//
//   cf::Process p(square, 7);                       // "Process-1"
//   cf::Process q({.name = "worker", .start_method = cf::StartMethod::kSpawn},
//                 square, 8);
//   p.start();  q.start();
//   p.join();   q.join();
//   assert(p.exitcode() == 0);
//
// kSpawn and kForkServer run the program again: main() must call
// cf::Init(argc, argv) first (executors/init.h). A Process is a handle:
// copies refer to the same child. Destroying the last handle neither waits
// for nor kills the child (Python's behaviour); active_children() still sees
// it until it is reaped.
#ifndef CF_EXECUTORS_PROCESS_H_
#define CF_EXECUTORS_PROCESS_H_

#include <sys/types.h>

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "executors/current_process.h"
#include "executors/process_pool_executor.h"  // cf::StartMethod
#include "executors/transport/remote_call.h"

namespace cf {

struct ProcessOptions {
  // Default: "Process-N" (N from the counter pool workers also use; a
  // child's children are "Process-N:M").
  std::optional<std::string> name = {};
  // Default: the current process's flag (always false: a daemon cannot
  // start processes).
  std::optional<bool> daemon = {};
  StartMethod start_method = StartMethod::kFork;
};

namespace internal {
struct ProcessState;

// The target and its arguments until start() encodes them.
class ProcessTarget {
 public:
  virtual ~ProcessTarget() = default;
  // EncodeCall<void>(target, args): serializes them for the child.
  virtual std::string Encode() const = 0;
};

template <class F, class... Args>
class ProcessTargetFor final : public ProcessTarget {
 public:
  ProcessTargetFor(F fn, Args... args)
      : fn_(std::move(fn)), args_(std::move(args)...) {}
  std::string Encode() const override {
    std::string out;
    EncodeCall<void>(fn_, args_, &out);
    return out;
  }

 private:
  F fn_;
  std::tuple<Args...> args_;
};
}  // namespace internal

class Process {
 public:
  // No target: the child starts and exits with code 0 (Python's Process()).
  Process();
  Process(ProcessOptions options);
  template <class F, class... Args>
    requires(!std::same_as<std::decay_t<F>, ProcessOptions> &&
             std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>)
  explicit Process(F&& fn, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(fn),
                std::forward<Args>(args)...) {}
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  Process(ProcessOptions options, F&& fn, Args&&... args) {
    using Remote =
        internal::RemoteCallTraits<void, std::decay_t<F>, std::decay_t<Args>...>;
    static_assert(Remote::kCallable,
                  "cf::Process: a capturing lambda or stateful function "
                  "object cannot run in another process; pass a free function "
                  "or a captureless lambda, and pass the state as arguments");
    static_assert(Remote::kArgumentsSerializable,
                  "cf::Process: an argument type cannot be serialized; give "
                  "it a cereal serialize() (and a default constructor) or "
                  "pass standard types");
    Init(std::move(options),
         std::make_unique<
             internal::ProcessTargetFor<std::decay_t<F>, std::decay_t<Args>...>>(
             std::forward<F>(fn), std::forward<Args>(args)...));
  }

  // Throws std::logic_error with Python's words: "cannot start a process
  // twice", "can only start a process object created by current process",
  // "daemonic processes are not allowed to have children"; and
  // std::invalid_argument("process object is closed"). Throws
  // std::runtime_error when the child cannot be started, and what an
  // argument's serialization throws.
  void start();
  // Waits for the child to end, at most `timeout`; returns either way (check
  // exitcode() or is_alive()), as Python's join. std::logic_error("can only
  // join a started process") before start().
  void join(absl::Duration timeout = absl::InfiniteDuration());
  // True from start() until the child ends; reaps it then.
  bool is_alive();
  // SIGTERM / SIGKILL, if it still runs.
  void terminate();
  void kill();
  // Empty before start and while running; see the top for the values.
  std::optional<int> exitcode();
  std::optional<pid_t> pid() const;
  std::optional<pid_t> ident() const { return pid(); }
  std::string name() const;
  void set_name(std::string name);
  bool daemon() const;
  // std::logic_error("process has already started") after start().
  void set_daemon(bool daemon);
  StartMethod start_method() const;
  // A descriptor (a pidfd) that becomes readable when the child ends, open
  // until close(). std::invalid_argument("process not started") before.
  int sentinel() const;
  // Releases the pidfd. std::invalid_argument if the child still runs; after
  // it, every other method throws std::invalid_argument("process object is
  // closed").
  void close();

  // The same child.
  friend bool operator==(const Process& a, const Process& b) {
    return a.state_ == b.state_;
  }

 private:
  friend std::vector<Process> active_children();
  friend std::string to_string(Process& process);
  explicit Process(std::shared_ptr<internal::ProcessState> state)
      : state_(std::move(state)) {}
  void Init(ProcessOptions options,
            std::unique_ptr<internal::ProcessTarget> target);

  std::shared_ptr<internal::ProcessState> state_;
};

// Python's repr: "<Process name='Process-1' pid=123 parent=120 started>",
// "... stopped exitcode=-SIGTERM>", "... initial daemon>".
std::string to_string(Process& process);

// The parent, seen from a child started by cf::Process (or a pool worker).
class ParentProcess {
 public:
  // The parent's name; "" in a pool worker, whose parent does not send it.
  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  pid_t ident() const { return pid_; }
  bool is_alive() const;
  // Waits for the parent to end, at most `timeout`.
  void join(absl::Duration timeout = absl::InfiniteDuration()) const;
  // A pidfd of the parent, readable once it has ended; -1 if none.
  int sentinel() const { return sentinel_; }

 private:
  friend std::optional<ParentProcess> parent_process();
  ParentProcess(std::string name, pid_t pid, int sentinel)
      : name_(std::move(name)), pid_(pid), sentinel_(sentinel) {}
  std::string name_;
  pid_t pid_;
  int sentinel_;
};

// Empty in the main process (Python's None).
std::optional<ParentProcess> parent_process();

// The children this process started with cf::Process that still run; those
// that ended are reaped here, as in Python. (Pool workers are not listed.)
std::vector<Process> active_children();

namespace internal {
// The child's side: the entry every cf::Process child runs (process.cc).
struct ProcessStart;
void ProcessMain(ProcessStart start);
}  // namespace internal

}  // namespace cf

#endif  // CF_EXECUTORS_PROCESS_H_
