#!/usr/bin/env bash
# Two hosts on one machine: network namespaces A (10.231.7.1) and B
# (10.231.7.2) joined by a veth pair that this test creates and removes.
# mpirun runs in A and reaches B through a remote launcher that runs
# `ip netns exec B ...` where a cluster would run ssh. Needs root (network
# namespaces); elsewhere it says why and passes without running.
set -euo pipefail
bin=$(realpath "$1")
skip() { echo "SKIPPED (not run): $*"; exit 0; }
[[ $EUID -eq 0 ]] || skip "creating network namespaces needs root"
command -v ip >/dev/null || skip "no ip command (Debian package iproute2)"

A=cfmpiA$$ B=cfmpiB$$ VA=cfa$$ VB=cfb$$
tmp=$(mktemp -d)
cleanup() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
if ! err=$(ip netns add "$A" 2>&1); then
  skip "cannot create a network namespace here: $err"
fi
ip netns add "$B"
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add 10.231.7.1/24 dev "$VA"
ip -n "$B" addr add 10.231.7.2/24 dev "$VB"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up

# Open MPI calls its remote launcher as `agent HOST COMMAND...`, like ssh.
cat >"$tmp/netns_rsh" <<SCRIPT
#!/bin/sh
host=\$1; shift
case \$host in
  10.231.7.1) ns=$A ;;
  10.231.7.2) ns=$B ;;
  *) echo "netns_rsh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns sh -c "\$*"
SCRIPT
chmod +x "$tmp/netns_rsh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent="$tmp/netns_rsh"
export OMPI_MCA_btl_tcp_if_include=10.231.7.0/24
export OMPI_MCA_oob_tcp_if_include=10.231.7.0/24
export OMPI_MCA_rmaps_base_oversubscribe=1
export TMPDIR="$tmp"

echo "=== launcher mode: rank 0 on A, ranks 1-2 on B"
ip netns exec "$A" timeout 60 mpirun --host 10.231.7.1:1,10.231.7.2:2 -n 3 \
  "$bin" launch 10.231.7.2

echo "=== MPIPoolExecutor on A spawning its workers on B (MPI_Comm_spawn info)"
ip netns exec "$A" timeout 60 "$bin" spawn 10.231.7.2
