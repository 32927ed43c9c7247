"""system_openmpi(): Debian's Open MPI as @openmpi//:mpi.

Open MPI has no Bazel build upstream; `@openmpi//:mpi` is the name Bazel
projects conventionally give it, so a workspace that builds Open MPI itself
(rules_foreign_cc, a prebuilt tree) declares `openmpi` before
cf_dependencies() and no BUILD file of cf's changes.

Only //executors/mpi depends on it: a program that links //:cf alone never
needs Open MPI installed, and Bazel evaluates this rule only when an MPI
target is built. The headers live in a multiarch directory that is not on
the compiler's default path, so the rule links that directory into the
repository and declares it; the library (libmpi.so) is on the linker's
default path. OMPI_SKIP_MPICXX keeps the deprecated C++ bindings (and
libmpi_cxx) out: cf uses the C API.
"""

_LIBDIRS = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
]

def _system_openmpi_impl(rctx):
    include = None
    for d in _LIBDIRS:
        if rctx.path(d + "/openmpi/include/mpi.h").exists:
            include = d + "/openmpi/include"
            break
    if not include or not rctx.which("mpirun"):
        fail("@openmpi needs Debian packages libopenmpi-dev and openmpi-bin; " +
             "run ./bazelw (it installs them) or apt-get install -y " +
             "libopenmpi-dev openmpi-bin")
    rctx.symlink(include, "include")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD", """package(default_visibility = ["//visibility:public"])

# Generated from %s (Debian's Open MPI).
cc_library(
    name = "mpi",
    hdrs = glob(["include/*.h"]),
    defines = ["OMPI_SKIP_MPICXX=1"],
    includes = ["include"],
    linkopts = ["-lmpi", "-pthread"],
)
""" % include)

system_openmpi = repository_rule(implementation = _system_openmpi_impl, local = True)
