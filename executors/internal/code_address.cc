#include "executors/internal/code_address.h"

#include <elf.h>
#include <link.h>

#include <cstring>

namespace cf::internal {
namespace {

// What dl_iterate_phdr tells about the object holding an address.
struct Lookup {
  // In: what to find (an address, or an object's name and an offset).
  std::uintptr_t address = 0;
  const std::string* object = nullptr;
  std::uint64_t offset = 0;
  // Out.
  bool found = false;
  std::string name;
  std::uintptr_t base = 0;
};

bool InExecutableSegment(const dl_phdr_info* info, std::uintptr_t address) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (address >= start && address < start + ph.p_memsz) return true;
  }
  return false;
}

int FindByAddress(dl_phdr_info* info, size_t, void* data) {
  auto* lookup = static_cast<Lookup*>(data);
  if (!InExecutableSegment(info, lookup->address)) return 0;
  lookup->found = true;
  lookup->base = info->dlpi_addr;
  // glibc names the main program "".
  lookup->name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  return 1;
}

int FindByName(dl_phdr_info* info, size_t, void* data) {
  auto* lookup = static_cast<Lookup*>(data);
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (std::strcmp(name, lookup->object->c_str()) != 0) return 0;
  const std::uintptr_t address = info->dlpi_addr + lookup->offset;
  lookup->found = InExecutableSegment(info, address);
  lookup->address = address;
  return 1;
}

}  // namespace

std::optional<CodeAddress> DescribeAddress(std::uintptr_t address) {
  Lookup lookup;
  lookup.address = address;
  dl_iterate_phdr(FindByAddress, &lookup);
  if (!lookup.found) return std::nullopt;
  return CodeAddress{lookup.name, address - lookup.base};
}

std::optional<std::uintptr_t> ResolveAddress(const CodeAddress& code) {
  Lookup lookup;
  lookup.object = &code.object;
  lookup.offset = code.offset;
  dl_iterate_phdr(FindByName, &lookup);
  if (!lookup.found) return std::nullopt;
  return lookup.address;
}

}  // namespace cf::internal
