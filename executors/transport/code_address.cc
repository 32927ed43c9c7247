#include "executors/transport/code_address.h"

#include <elf.h>
#include <link.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace cf::internal {
namespace {

// The loaded objects, as one immutable snapshot. Lookups read it without a
// lock: dl_iterate_phdr takes the loader's lock, and a kFork worker forked
// while another thread of the parent held that lock would wait for it
// forever. Only a miss (a library loaded since, or a bad address) looks at
// the loader again.
struct Object {
  std::string name;  // "" for the main program, as glibc names it
  std::uintptr_t base = 0;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> code;  // [start, end)
};

struct Snapshot {
  unsigned long long loads = 0;  // dlpi_adds + dlpi_subs when it was taken
  std::vector<Object> objects;
};

std::atomic<const Snapshot*> current{nullptr};
std::mutex refresh_mu;

int AddObject(dl_phdr_info* info, size_t size, void* data) {
  auto* snapshot = static_cast<Snapshot*>(data);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    snapshot->loads = info->dlpi_adds + info->dlpi_subs;
  }
  Object object;
  object.name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  object.base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    object.code.emplace_back(start, start + ph.p_memsz);
  }
  snapshot->objects.push_back(std::move(object));
  return 0;
}

int CountLoads(dl_phdr_info* info, size_t size, void* data) {
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    *static_cast<unsigned long long*>(data) = info->dlpi_adds + info->dlpi_subs;
  }
  return 1;
}

// The snapshot, taken on first use; `stale` asks for a fresh one if objects
// were loaded or unloaded since. Replaced snapshots stay allocated (a reader
// may hold one); there is one per dlopen/dlclose at most.
const Snapshot& Objects(bool stale) {
  const Snapshot* snapshot = current.load(std::memory_order_acquire);
  if (snapshot != nullptr && !stale) return *snapshot;
  std::lock_guard<std::mutex> lock(refresh_mu);
  snapshot = current.load(std::memory_order_acquire);
  if (snapshot != nullptr) {
    unsigned long long loads = snapshot->loads;
    dl_iterate_phdr(CountLoads, &loads);
    if (loads == snapshot->loads) return *snapshot;
  }
  auto fresh = std::make_unique<Snapshot>();
  dl_iterate_phdr(AddObject, fresh.get());
  current.store(fresh.get(), std::memory_order_release);
  return *fresh.release();
}

bool InCode(const Object& object, std::uintptr_t address) {
  for (const auto& [start, end] : object.code) {
    if (address >= start && address < end) return true;
  }
  return false;
}

std::optional<CodeAddress> Describe(const Snapshot& snapshot,
                                    std::uintptr_t address) {
  for (const Object& object : snapshot.objects) {
    if (InCode(object, address)) {
      return CodeAddress{object.name, address - object.base};
    }
  }
  return std::nullopt;
}

std::optional<std::uintptr_t> Resolve(const Snapshot& snapshot,
                                      const CodeAddress& code) {
  for (const Object& object : snapshot.objects) {
    if (object.name != code.object) continue;
    const std::uintptr_t address = object.base + code.offset;
    if (InCode(object, address)) return address;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<CodeAddress> DescribeAddress(std::uintptr_t address) {
  if (auto found = Describe(Objects(false), address)) return found;
  return Describe(Objects(true), address);
}

std::optional<std::uintptr_t> ResolveAddress(const CodeAddress& code) {
  if (auto found = Resolve(Objects(false), code)) return found;
  return Resolve(Objects(true), code);
}

}  // namespace cf::internal
