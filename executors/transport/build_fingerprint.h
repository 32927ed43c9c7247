// What "the same build" means for a parent and a re-executed worker: the
// build ids (ELF NT_GNU_BUILD_ID notes) of the program and of every library
// loaded at startup, in load order.
//
// A worker started by kSpawn or kForkServer runs /proc/self/exe again; if the
// program or one of its libraries was rebuilt in between, code offsets no
// longer mean the same functions, so parent and worker compare fingerprints
// before any task is sent.
#ifndef CF_EXECUTORS_TRANSPORT_BUILD_FINGERPRINT_H_
#define CF_EXECUTORS_TRANSPORT_BUILD_FINGERPRINT_H_

#include <string>

namespace cf::internal {

// One line per loaded object: "<path or (program)> <hex build id>". An
// object without a build id is named by its file's size and modification
// time instead.
std::string ComputeBuildFingerprint();

// A short digest of a fingerprint, for error messages.
std::string FingerprintDigest(const std::string& fingerprint);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_BUILD_FINGERPRINT_H_
