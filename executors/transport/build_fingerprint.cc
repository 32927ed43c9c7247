#include "executors/transport/build_fingerprint.h"

#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace cf::internal {
namespace {

// The NT_GNU_BUILD_ID note of a loaded object, or "".
std::string BuildIdOf(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, p, sizeof(note));
      const char* name = p + sizeof(note);
      const char* desc = name + ((note.n_namesz + 3) & ~3u);
      const char* next = desc + ((note.n_descsz + 3) & ~3u);
      if (next > end) break;
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        return absl::BytesToHexString(absl::string_view(desc, note.n_descsz));
      }
      p = next;
    }
  }
  return "";
}

int AddObject(dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::string*>(data);
  const char* name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  const bool program = name[0] == '\0';
  std::string id = BuildIdOf(info);
  if (id.empty()) {
    struct stat st;
    const char* path = program ? "/proc/self/exe" : name;
    if (stat(path, &st) == 0) {
      id = absl::StrCat("size=", st.st_size, ",mtime=", st.st_mtim.tv_sec, ".",
                        st.st_mtim.tv_nsec);
    } else {
      id = "unknown";
    }
  }
  absl::StrAppend(out, program ? "(program)" : name, " ", id, "\n");
  return 0;
}

}  // namespace

std::string ComputeBuildFingerprint() {
  std::string out;
  dl_iterate_phdr(AddObject, &out);
  return out;
}

std::string FingerprintDigest(const std::string& fingerprint) {
  const std::size_t h = std::hash<std::string>()(fingerprint);
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16));
}

}  // namespace cf::internal
