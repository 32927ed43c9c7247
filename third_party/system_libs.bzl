"""Repository rules that expose Debian's -dev packages under upstream labels.

Bazel cannot download anything on our machines, so instead of the upstream
archives these rules generate tiny repositories whose targets carry only link
flags: the headers are found on the compiler's default include path
(/usr/include), which Bazel already treats as a builtin system directory, so
nothing extra is put on the include path. Because the targets keep their
upstream names (@com_google_absl//absl/time, @com_google_googletest//:gtest...)
anyone with internet can declare the upstream http_archive in WORKSPACE before
cf_dependencies() and no BUILD file changes.

Quirk: Bazel does not track system headers/libraries, so after upgrading any
of these Debian packages run `bazel clean --expunge`.
"""

# Multiarch library directories, first match wins.
_LIBDIRS = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
]

def _libdir(rctx, probe):
    for d in _LIBDIRS:
        if rctx.path(d + "/" + probe).exists:
            return d
    return None

def _require(rctx, files):
    """Fails with an actionable message if a system file is missing."""
    missing = {}
    for path, pkg in files.items():
        if not rctx.path(path).exists:
            missing[pkg] = True
    if missing:
        fail("@%s needs Debian package(s) %s; run ./bazelw (it installs them) or " %
             (rctx.name, ", ".join(missing.keys())) +
             "apt-get install -y " + " ".join(missing.keys()))

# ---------------------------------------------------------------- generic repo

def _system_repo_impl(rctx):
    _require(rctx, rctx.attr.required)
    libdir = None
    for dest, lib in rctx.attr.static_libs.items():
        libdir = libdir or _libdir(rctx, lib)
        if not libdir:
            fail("@%s: %s not found in %s" % (rctx.name, lib, _LIBDIRS))
        rctx.symlink(libdir + "/" + lib, dest)
    for label, dest in rctx.attr.label_files.items():
        rctx.symlink(rctx.path(label), dest)
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    for path, content in rctx.attr.files.items():
        rctx.file(path, content)

system_repo = repository_rule(
    implementation = _system_repo_impl,
    local = True,
    attrs = {
        # file path in the repo -> content (BUILD files and the like)
        "files": attr.string_dict(),
        # path in the repo -> file name of a static lib in the multiarch libdir
        "static_libs": attr.string_dict(),
        # label of a file in our source tree -> path in the repo
        "label_files": attr.label_keyed_string_dict(allow_files = True),
        # absolute path that must exist -> Debian package providing it
        "required": attr.string_dict(),
    },
)

# ------------------------------------------------------------------------ absl

# Upstream absl label -> Debian pkg-config module (absl_<name>.pc) when its name
# differs from the target name. Debian's .pc files carry the same dependency
# graph as upstream's BUILD files, so linkopts/deps are derived from them.
_ABSL_TARGETS = [
    "algorithm:algorithm",
    "algorithm:container=algorithm_container",
    "base:base",
    "base:config",
    "base:core_headers",
    "base:dynamic_annotations",
    "base:endian",
    "base:log_severity",
    "base:prefetch",
    "cleanup:cleanup",
    "container:btree",
    "container:fixed_array",
    "container:flat_hash_map",
    "container:flat_hash_set",
    "container:inlined_vector",
    "container:node_hash_map",
    "container:node_hash_set",
    "debugging:failure_signal_handler",
    "debugging:leak_check",
    "debugging:stacktrace",
    "debugging:symbolize",
    "flags:commandlineflag=flags_commandlineflag",
    "flags:config=flags_config",
    "flags:flag=flags",
    "flags:marshalling=flags_marshalling",
    "flags:parse=flags_parse",
    "flags:reflection=flags_reflection",
    "flags:usage=flags_usage",
    "functional:any_invocable",
    "functional:bind_front",
    "functional:function_ref",
    "hash:hash",
    "memory:memory",
    "meta:type_traits",
    "numeric:bits",
    "numeric:int128",
    "numeric:representation=numeric_representation",
    "random:bit_gen_ref=random_bit_gen_ref",
    "random:distributions=random_distributions",
    "random:random=random_random",
    "random:seed_gen_exception=random_seed_gen_exception",
    "random:seed_sequences=random_seed_sequences",
    "status:status",
    "status:statusor",
    "strings:cord",
    "strings:str_format",
    "strings:strings",
    "synchronization:synchronization",
    "time:time",
    "types:any",
    "types:bad_any_cast",
    "types:bad_optional_access",
    "types:bad_variant_access",
    "types:compare",
    "types:optional",
    "types:span",
    "types:variant",
    "utility:utility",
]

def _pc_field(text, field):
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line[len(field) + 1:].strip()
    return ""

def _words(s):
    # Bazel 4's str.split() needs an explicit separator.
    return [w for w in s.replace("\t", " ").split(" ") if w]

def _pc_requires(text):
    """'a = 1, b >= 2 c' -> [a, b, c]."""
    out = []
    skip = False
    for tok in _words(_pc_field(text, "Requires").replace(",", " ")):
        if tok in ("=", "<", ">", "<=", ">=", "!="):
            skip = True  # the next token is a version
        elif skip:
            skip = False
        else:
            out.append(tok)
    return out

def _pc_linkopts(text):
    # -L is dropped: the libdir is on the linker's default search path.
    # Abseil's static archives (Debian ships them, built position-independent)
    # instead of its shared objects: a binary loads no 36 libabsl_*.so, each
    # four or five mappings that every fork of a kFork pool copies, and every
    # worker unmaps again at its exit. On the 2-core VM, in the grown
    # first_use_bench process: kFork start-up to first result 9.5-10.0 ms
    # with the shared objects, 7.9-8.0 ms with the archives; idle shutdown
    # 2.7-2.8 ms against 1.8-2.1 ms.
    return [
        "-l:lib%s.a" % t[2:] if t.startswith("-labsl_") else t
        for t in _words(_pc_field(text, "Libs"))
        if not t.startswith("-L")
    ]

def _system_absl_impl(rctx):
    _require(rctx, {"/usr/include/absl/base/config.h": "libabsl-dev"})
    libdir = _libdir(rctx, "pkgconfig/absl_base.pc")
    if not libdir:
        fail("@%s: absl_base.pc not found; apt-get install -y libabsl-dev" % rctx.name)
    pcdir = rctx.path(libdir + "/pkgconfig")
    modules = {}  # pc name without "absl_" -> (linkopts, requires)
    for f in pcdir.readdir():
        if f.basename.startswith("absl_") and f.basename.endswith(".pc"):
            text = rctx.read(f)
            modules[f.basename[5:-3]] = (_pc_linkopts(text), _pc_requires(text))

    # One private target per pc module in the root package mirrors Debian's
    # graph; the public upstream-named targets in sub-packages depend on them.
    root = ['# Generated from %s/absl_*.pc (Abseil %s).' %
            (pcdir, _pc_field(rctx.read(pcdir.get_child("absl_base.pc")), "Version"))]
    for name in sorted(modules):
        linkopts, requires = modules[name]
        deps = []
        for r in requires:
            if not r.startswith("absl_") or r[5:] not in modules:
                fail("absl_%s.pc requires unknown module %s" % (name, r))
            deps.append(":pc_" + r[5:])
        root.append(("cc_library(name = \"pc_%s\", linkopts = %r, deps = %r, " +
                     "visibility = [\"//:__subpackages__\"])") % (name, linkopts, deps))
    rctx.file("BUILD.bazel", "\n".join(root) + "\n")

    packages = {}
    for spec in _ABSL_TARGETS:
        label, _, pc = spec.partition("=")
        pkg, _, name = label.partition(":")
        pc = pc or name
        if pc not in modules:
            continue  # not shipped by this Abseil version
        packages.setdefault(pkg, []).append(
            "cc_library(name = \"%s\", deps = [\"//:pc_%s\"])" % (name, pc),
        )
    for pkg, rules in packages.items():
        rctx.file("absl/%s/BUILD.bazel" % pkg, "\n".join(
            ['package(default_visibility = ["//visibility:public"])'] + rules,
        ) + "\n")
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)

system_absl = repository_rule(implementation = _system_absl_impl, local = True)
