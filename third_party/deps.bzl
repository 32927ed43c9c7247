"""cf_dependencies(): every external repository cf needs, all from local disk.

Called from cf's WORKSPACE and from any workspace that depends on cf:

    local_repository(name = "cf", path = "...")
    load("@cf//third_party:deps.bzl", "cf_dependencies")
    cf_dependencies()

A repository that is already declared is left alone, so to use an upstream
archive (e.g. http_archive(name = "com_google_absl", ...)) declare it before
calling cf_dependencies().
"""

load(":openmpi.bzl", "system_openmpi")
load(":system_libs.bzl", "system_absl", "system_repo")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

_PUBLIC = 'package(default_visibility = ["//visibility:public"])\n'

def cf_dependencies():
    # --- What Bazel 4 itself fetches before building any C++ test. ---------
    _maybe(native.local_repository, "rules_java", path = "/usr/share/bazel/rules/java")
    _maybe(native.local_repository, "platforms", path = "/usr/share/bazel/platforms")
    _maybe(
        system_repo,
        "rules_cc",
        label_files = {Label("//third_party/rules_cc:defs.bzl"): "cc/defs.bzl"},
        files = {"BUILD": "", "cc/BUILD": 'exports_files(["defs.bzl"])\n'},
    )

    # Only used by `bazel coverage`, but test rules reference it.
    _maybe(system_repo, "remote_coverage_tools", files = {"BUILD": _PUBLIC + """
filegroup(name = "coverage_report_generator")
filegroup(name = "lcov_merger")
"""})

    # --- Libraries (Debian packages; see system_libs.bzl). ----------------
    _maybe(system_absl, "com_google_absl")

    # Static libs. Upstream's :gtest also contains gmock and its :gtest_main is
    # gmock_main.cc, so mirror that. A library's own .a srcs are linked before
    # its deps', which gives the order static linking needs.
    _maybe(
        system_repo,
        "com_google_googletest",
        required = {
            "/usr/include/gtest/gtest.h": "libgtest-dev",
            "/usr/include/gmock/gmock.h": "libgmock-dev",
        },
        static_libs = {
            "lib/libgtest.a": "libgtest.a",
            "lib/libgmock.a": "libgmock.a",
            "lib/libgmock_main.a": "libgmock_main.a",
        },
        files = {"BUILD": _PUBLIC + """
cc_library(name = "gtest_core", srcs = ["lib/libgtest.a"], linkopts = ["-pthread"],
           visibility = ["//visibility:private"])
cc_library(name = "gtest", srcs = ["lib/libgmock.a"], deps = [":gtest_core"])
cc_library(name = "gtest_main", srcs = ["lib/libgmock_main.a"], deps = [":gtest"])
alias(name = "gmock", actual = ":gtest")
alias(name = "gmock_main", actual = ":gtest_main")
"""},
    )

    _maybe(
        system_repo,
        "com_github_google_benchmark",
        required = {"/usr/include/benchmark/benchmark.h": "libbenchmark-dev"},
        static_libs = {"lib/libbenchmark_main.a": "libbenchmark_main.a"},
        files = {"BUILD": _PUBLIC + """
cc_library(name = "benchmark", linkopts = ["-lbenchmark", "-pthread"])
cc_library(name = "benchmark_main", srcs = ["lib/libbenchmark_main.a"], deps = [":benchmark"])
"""},
    )

    _maybe(
        system_repo,
        "com_github_uscilab_cereal",
        required = {"/usr/include/cereal/cereal.hpp": "libcereal-dev"},
        files = {"BUILD": _PUBLIC + 'cc_library(name = "cereal")\n'},
    )

    # Authenticates the frames between a process pool and its workers.
    _maybe(
        system_repo,
        "libsodium",
        required = {"/usr/include/sodium.h": "libsodium-dev"},
        files = {"BUILD": _PUBLIC + 'cc_library(name = "sodium", linkopts = ["-lsodium"])\n'},
    )

    # Open MPI, for //executors/mpi only (cf::MPIPoolExecutor); //:cf does
    # not need it. Label as Bazel projects name it (see openmpi.bzl).
    _maybe(system_openmpi, "openmpi")

    # Bench-only peers. Boost.Asio is header-only since Boost 1.69 (no
    # -lboost_system); label as in rules_boost. oneTBB's own BUILD names.
    _maybe(
        system_repo,
        "boost",
        required = {"/usr/include/boost/asio.hpp": "libboost-dev"},
        files = {"BUILD": _PUBLIC + 'cc_library(name = "asio", linkopts = ["-pthread"])\n'},
    )
    _maybe(
        system_repo,
        "onetbb",
        required = {"/usr/include/oneapi/tbb.h": "libtbb-dev"},
        files = {"BUILD": _PUBLIC + """
cc_library(name = "tbb", linkopts = ["-ltbb", "-pthread"])
cc_library(name = "tbbmalloc", linkopts = ["-ltbbmalloc"])
"""},
    )
