// Names a code address in a way that another process running the same build
// can turn back into an address: the loaded object it lies in (the program or
// a shared library, by path) and its offset from that object's load address.
//
// Fork children share the parent's layout, but a re-executed worker is laid
// out anew by ASLR; offsets within an object are the same in both.
//
// Lookups read a snapshot of the loaded objects without taking the loader's
// lock (only a miss refreshes it), so a worker forked while another thread
// held that lock can still resolve its calls.
#ifndef CF_EXECUTORS_TRANSPORT_CODE_ADDRESS_H_
#define CF_EXECUTORS_TRANSPORT_CODE_ADDRESS_H_

#include <cstdint>
#include <optional>
#include <string>

namespace cf::internal {

struct CodeAddress {
  std::string object;  // "" for the main program, else the library's path
  std::uint64_t offset = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(object, offset);
  }
  friend bool operator==(const CodeAddress&, const CodeAddress&) = default;
};

// The object and offset of `address`, or nullopt if no loaded object holds it
// (it is not code of this process).
std::optional<CodeAddress> DescribeAddress(std::uintptr_t address);

// The address `code` names in this process, or nullopt if its object is not
// loaded or the offset falls outside the object's executable segments.
std::optional<std::uintptr_t> ResolveAddress(const CodeAddress& code);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_CODE_ADDRESS_H_
