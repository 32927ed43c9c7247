// What a task that threw in a worker process (ProcessPoolExecutor) throws in
// the parent.
//
// The exception object itself cannot cross the process boundary, only its
// description, so the parent rebuilds it: as the same type when its exact type
// is a standard exception (std::out_of_range, std::runtime_error, ...) or one
// of cf's own errors, and as a cf::RemoteError otherwise. Either way it carries
// a cf::RemoteTraceback as its nested exception, the worker's side of the story
// (pid, type, message and the stack where it was thrown), as Python chains a
// _RemoteTraceback as the rebuilt exception's __cause__.
//
//   try {
//     future.result();
//   } catch (const std::out_of_range& e) {
//     if (auto remote = cf::RemoteTracebackOf(e)) std::cerr << remote->what();
//   } catch (const cf::RemoteError& e) {
//     // A type the parent cannot rebuild, e.g. my::ParseError or `throw 42`.
//     std::cerr << e.type_name() << " in process " << e.pid() << "\n"
//               << e.traceback();
//   }
#ifndef CF_EXECUTORS_REMOTE_ERROR_H_
#define CF_EXECUTORS_REMOTE_ERROR_H_

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace cf {

// The worker's view of an exception that escaped a task: the "cause" nested in
// the exception rethrown in the parent. Also thrown by std::rethrow_if_nested
// on that exception, so generic cause-chain printers show it.
class RemoteTraceback : public std::exception {
 public:
  RemoteTraceback(std::int64_t pid, std::string type_name, std::string message,
                  std::string traceback)
      : pid_(pid),
        type_name_(std::move(type_name)),
        message_(std::move(message)),
        traceback_(std::move(traceback)),
        what_(type_name_ + (message_.empty() ? "" : ": " + message_) +
              " (raised in process " + std::to_string(pid_) + ")\n" +
              traceback_) {}

  // The worker process the task ran in.
  std::int64_t pid() const { return pid_; }
  // The demangled type of the thrown object: "std::out_of_range",
  // "my::ParseError", "int".
  const std::string& type_name() const { return type_name_; }
  // Its what(); empty when it was not a std::exception.
  const std::string& message() const { return message_; }
  // The symbolized stack where it was thrown, innermost frame first, one per
  // line: "    #0 0x5581d2a4c1f3 my::Parse()".
  const std::string& traceback() const { return traceback_; }

  // "my::ParseError: bad token (raised in process 1234)\n" and the traceback.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::int64_t pid_;
  std::string type_name_;
  std::string message_;
  std::string traceback_;
  std::string what_;
};

// Thrown in the parent for a task exception whose type it does not rebuild:
// user-defined types (even those derived from a standard exception: rebuilding
// them as their standard base would silently drop what the handler may be
// looking for) and non-std::exception throws such as `throw 42`.
//
// what() is "<type_name>: <message>", or just the type name when the message
// is empty, as Python formats an exception.
class RemoteError : public std::runtime_error {
 public:
  explicit RemoteError(RemoteTraceback cause)
      : std::runtime_error(cause.message().empty()
                               ? cause.type_name()
                               : cause.type_name() + ": " + cause.message()),
        cause_(std::move(cause)) {}

  std::int64_t pid() const { return cause_.pid(); }
  const std::string& type_name() const { return cause_.type_name(); }
  const std::string& message() const { return cause_.message(); }
  const std::string& traceback() const { return cause_.traceback(); }
  const RemoteTraceback& cause() const { return cause_; }

 private:
  RemoteTraceback cause_;
};

// The worker's side of an exception rebuilt in the parent (a rebuilt standard
// or cf exception, or a RemoteError); nullopt for any other exception. A copy,
// so it does not depend on how the exception is stored.
//
//   catch (const std::exception& e) {
//     if (auto remote = cf::RemoteTracebackOf(e)) Log(remote->traceback());
//   }
inline std::optional<RemoteTraceback> RemoteTracebackOf(
    const std::exception& e) {
  if (const auto* error = dynamic_cast<const RemoteError*>(&e)) {
    return error->cause();
  }
  const auto* nested = dynamic_cast<const std::nested_exception*>(&e);
  if (nested == nullptr || nested->nested_ptr() == nullptr) return std::nullopt;
  try {
    std::rethrow_exception(nested->nested_ptr());
  } catch (const RemoteTraceback& cause) {
    return cause;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace cf

#endif  // CF_EXECUTORS_REMOTE_ERROR_H_
