#!/bin/bash
# Runs inside the test VM, as pid 1 after switch_root into the host's (read-only) root.
# For each host layout, it builds the cgroups the way systemd, a container engine or a bare
# VM lays them out (mkdir, and echo into cgroup.procs and cgroup.subtree_control), starts the
# test processes in them, and writes what happened to /tmp/results (a 9p share the host
# reads): <layout>.xctest.log, <layout>.smoke and a summary line per layout in summary.
# Every probe is harmless if a sandbox were broken: bounded loops, scratch directories,
# loopback only.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/tmp/home
R=/tmp/results
exec >"$R/guest.log" 2>&1
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
REPO=$(arg coven.repo)
LAYOUTS=$(arg coven.layouts | tr , ' ')
C=/sys/fs/cgroup
mkdir -p "$HOME"
echo "guest: kernel $(uname -r), repo $REPO, layouts: $LAYOUTS"

finish() {
  sync
  echo "done" > "$R/done"
  sync
  echo o > /proc/sysrq-trigger
  sleep 30
}
trap finish EXIT

# Binaries on tmpfs, world-readable: the unprivileged layouts can run them wherever the
# checkout lives. The test runner finds the CLI, daemon, askpass and launcher process next to itself.
BIN=/tmp/bin
mkdir -p $BIN
for f in coven-supervisor coven-supervisor-daemon coven-askpass coven-sandbox-zygote coven-supervisorPackageTests.xctest; do
  cp "$REPO/.build/debug/$f" $BIN/ || echo "guest: missing $REPO/.build/debug/$f"
done
chmod 0755 $BIN $BIN/*
CLI=$BIN/coven-supervisor
XCTEST=$BIN/coven-supervisorPackageTests.xctest

# The tests each root layout runs, and the ones an unprivileged user runs. The CLI's own
# tests run where people type sandbox exec (no systemd, a login session); the daemon runs
# the demo task in every layout (daemon_check), and its XCTest end-to-end suite where
# the daemon is meant to live, the service layout.
ROOT_TESTS=SandboxTests.HostLayoutTests,SandboxTests.CgroupTests,SandboxTests.IsolationTests,SandboxTests.LifecycleTests
SHELL_TESTS=$ROOT_TESTS,SandboxTests.CLITests
SERVICE_TESTS=$ROOT_TESTS,AdapterTests.EndToEndTests
USER_TESTS=SandboxTests.HostLayoutTests

# ---- building layouts -------------------------------------------------------------------

controllers() { echo "+memory +pids +cpu" > "$C$1/cgroup.subtree_control"; }
mk() { mkdir -p "$C$1"; }
# A process that stands for a login shell or a container's other processes: keeps a
# cgroup populated. Bounded: it ends with the VM.
# Placed from here, before anything else starts in the cgroup.
sleeper() { sleep 100000 & echo $! > "$C$1/cgroup.procs"; }
# Runs a command with its own process placed in cgroup $1 first (what systemd does when it
# starts a unit or a session).
run_in() { local cg=$1; shift; bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$C$cg" "$@"; }
# Like run_in, in a new scope of uid 1000's under $1 each time, the way each
# `systemd-run --user --scope -p Delegate=yes CMD` gets its own.
run_in_new_scope() {
  local cg=$1/run-$RANDOM$RANDOM.scope; shift
  mk "$cg"; delegate "$cg"
  run_in "$cg" "$@"
}
# Hands a cgroup to uid 1000 the way systemd delegates one: the directory and the files
# that make it manageable.
delegate() { chown 1000:1000 "$C$1" "$C$1/cgroup.procs" "$C$1/cgroup.subtree_control" "$C$1/cgroup.threads"; }
# (An array, not a function: run_in execs it, so that the test process is alone in its cgroup.)
AS_USER=(setpriv --reuid=1000 --regid=1000 --clear-groups env HOME=/tmp/u1000)

# ---- checks ---------------------------------------------------------------------------

SMOKE=
ok() { echo "ok   $1" >> "$SMOKE"; }
bad() { echo "FAIL $1: $2" >> "$SMOKE"; }

# `sandbox exec` as the layout's user would type it. $1 = the wrapper (run_in CG / "${AS_USER[@]}").
smoke_checks() {
  local wrap=("$@") out tmp=/tmp/smoke.$$
  mkdir -p $tmp; chmod 0777 $tmp
  # OOM: classified oom_killed.
  "${wrap[@]}" $CLI sandbox exec --memory 32M --report $tmp/oom.json -- python3 -c 'b = bytearray(256 << 20)' >/dev/null 2>&1
  if grep -q '"class" : "oom_killed"' $tmp/oom.json 2>/dev/null; then ok "oom is classified oom_killed"
  else bad "oom is classified oom_killed" "$(tr -d '\n' < $tmp/oom.json 2>/dev/null)"; fi
  # A fork loop held by pids.max: at most 200 forks, each child sleeps 10 s and exits.
  out=$("${wrap[@]}" $CLI sandbox exec --pids 16 --timeout 60s -- python3 -c '
import os, time
n = 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(10); os._exit(0)
    n += 1
print("started=%d" % n)' 2>&1)
  n=$(echo "$out" | sed -n 's/.*started=\([0-9]*\).*/\1/p')
  if [ -n "$n" ] && [ "$n" -lt 16 ]; then ok "a fork loop is held by pids.max ($n of 200 started)"
  else bad "a fork loop is held by pids.max" "$out"; fi
  # cpu.max set: read from the sandbox's own cgroup while it runs.
  "${wrap[@]}" $CLI sandbox exec --cpus 0.5 --timeout 30s -- sh -c 'sleep 20' >/dev/null 2>&1 &
  local bg=$! cpu="" i
  for i in $(seq 100); do
    cpu=$(find $C -name 'sbx-*' -type d -exec cat {}/cpu.max \; 2>/dev/null | head -1)
    [ -n "$cpu" ] && break; sleep 0.1
  done
  pkill -TERM -f "sandbox exec --cpus 0.5" ; wait $bg 2>/dev/null
  if [ "$cpu" = "50000 100000" ]; then ok "cpu.max is set (50000 100000)"; else bad "cpu.max is set" "got '$cpu'"; fi
  # A TERM-ignoring, setsid'd tree is gone after the timeout (exit 124).
  local marker=300.$RANDOM$RANDOM
  "${wrap[@]}" $CLI sandbox exec --timeout 1s --grace 1s -- sh -c \
    "trap '' TERM; setsid sh -c \"trap '' TERM; sleep $marker\" & sleep $marker" >/dev/null 2>&1
  local status=$? left
  sleep 0.5
  left=$(pgrep -f "sleep $marker" | wc -l)
  if [ $status -eq 124 ] && [ "$left" -eq 0 ]; then ok "a TERM-ignoring setsid'd tree is gone after the timeout"
  else bad "a TERM-ignoring setsid'd tree is gone after the timeout" "status $status, $left left"; fi
  # doctor: the trial sandbox with limits, in this layout.
  out=$("${wrap[@]}" $CLI doctor 2>&1)
  echo "$out" > $tmp/doctor.txt
  if echo "$out" | grep -qE '^ok +sandbox: launched /bin/true with memory, pids, cpu limits'; then ok "doctor launches its trial sandbox with limits"
  else bad "doctor launches its trial sandbox with limits" "$(echo "$out" | grep -E 'sandbox|cgroups' | head -3 | tr '\n' ' ')"; fi
  if echo "$out" | grep -E '^ok +cgroups:' | grep -qF "$PLACEMENT"; then ok "sandboxes go in: $PLACEMENT"
  else bad "sandboxes go in: $PLACEMENT" "$(echo "$out" | grep -E '^[a-zA-Z]+ +cgroups:')"; fi
  cp $tmp/doctor.txt "$R/$LAYOUT.doctor"
  rm -rf $tmp
}

# The daemon as a real process in the layout, and the demo task through it.
daemon_check() {
  local wrap=("$@") state=/tmp/daemon-$LAYOUT i id="" task="" token
  rm -rf $state
  # Local mode runs the bundled example runtime from the checkout.
  "${wrap[@]}" env -C "$REPO" $BIN/coven-supervisor-daemon serve --state-dir $state --listen 127.0.0.1:8787 \
    > "$R/$LAYOUT.daemon.log" 2>&1 &
  local pid=$!
  for i in $(seq 300); do
    [ -s $state/demo-task.json ] && curl -sf http://127.0.0.1:8787/healthz >/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  token=$(cat $state/api-token 2>/dev/null)
  if [ -n "$token" ]; then
    id=$(curl -s -H "Authorization: Bearer $token" --data-binary @$state/demo-task.json \
         http://127.0.0.1:8787/api/tasks | sed -n 's/.*"task_id" *: *"\([^"]*\)".*/\1/p')
  fi
  for i in $(seq 300); do
    [ -n "$id" ] || break
    task=$(curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8787/api/tasks/$id)
    echo "$task" | grep -qE '"state" *: *"(completed|failed|cancelled)"' && break
    sleep 0.2
  done
  echo "$task" > "$R/$LAYOUT.demo-task.json"
  if echo "$task" | grep -qE '"state" *: *"completed"'; then ok "serve runs the demo task to completed"
  else bad "serve runs the demo task to completed" "task ${id:-none}: $(echo "$task" | head -c 300; tail -3 "$R/$LAYOUT.daemon.log")"; fi
  pkill -TERM -f -- "serve --state-dir $state"; wait $pid
  local st=$?
  [ $st -eq 0 ] && ok "serve stops on SIGTERM with status 0" || bad "serve stops on SIGTERM with status 0" "status $st"
}

leftovers() {
  local left d what=""
  left=$(find $C -name 'sbx-*' -type d 2>/dev/null)
  for d in $left; do what="$what $d [$(cat $d/cgroup.procs 2>/dev/null | tr '\n' ' ')]"; done
  if [ -z "$left" ]; then ok "no sbx-* cgroup is left behind"; else bad "no sbx-* cgroup is left behind" "$what"; fi
}

xctest() {
  local filter=$1; shift
  local start=$SECONDS
  "$@" env COVEN_VM_LAYOUT=$LAYOUT $XCTEST "$filter" > "$R/$LAYOUT.xctest.log" 2>&1
  echo "xctest $LAYOUT: status $? in $((SECONDS - start)) s"
}

# ---- the layouts ----------------------------------------------------------------------

layout_root() {          # no systemd: the shell in the root cgroup, beside pid 1
  xctest $SHELL_TESTS
  PLACEMENT="top level: sandboxes in /sys/fs/cgroup/coven/" smoke_checks env
  daemon_check env
}

layout_container() {     # a container with a private cgroup namespace and a writable /sys/fs/cgroup
  controllers ""; mk /machine.slice; controllers /machine.slice; mk /machine.slice/ctr-1
  # Its root holds its other processes besides ours (the sleep).
  run_in /machine.slice/ctr-1 unshare --cgroup --mount --propagation private bash -c '
    umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || { bad "mount cgroup2 in the container" "$?"; exit 0; }
    sleep 100000 &
    xctest "$ROOT_TESTS"
    PLACEMENT="top level: sandboxes in /sys/fs/cgroup/coven/" smoke_checks env
    daemon_check env'
}

layout_session() {       # root from a login shell: a populated session scope
  controllers ""; mk /user.slice; controllers /user.slice; mk /user.slice/user-0.slice; controllers /user.slice/user-0.slice
  mk /user.slice/user-0.slice/session-1.scope
  sleeper /user.slice/user-0.slice/session-1.scope
  local cg=/user.slice/user-0.slice/session-1.scope
  xctest $SHELL_TESTS run_in $cg
  PLACEMENT="top level: sandboxes in /sys/fs/cgroup/coven/" smoke_checks run_in $cg
  daemon_check run_in $cg
}

# systemd removes a unit's cgroup tree when the unit stops, and makes it afresh at start.
fresh_unit() { find "$C$1" -depth -type d -exec rmdir {} \; 2>/dev/null; mk "$1"; }

layout_service() {       # serve under systemd with Delegate=yes: alone in its service cgroup
  controllers ""; mk /system.slice; controllers /system.slice
  local cg=/system.slice/coven-supervisor.service
  fresh_unit $cg
  xctest $SERVICE_TESTS run_in $cg
  fresh_unit $cg
  daemon_check run_in $cg
  # systemd 254+ with DelegateSubgroup=supervisor starts it in the leaf already.
  fresh_unit $cg; mk $cg/supervisor
  LAYOUT=service-subgroup daemon_check run_in $cg/supervisor
  # The CLI beside it, from a populated service cgroup (an operator's shell in a unit).
  mk /system.slice/ops.service; sleeper /system.slice/ops.service
  PLACEMENT="top level: sandboxes in /sys/fs/cgroup/coven/" smoke_checks run_in /system.slice/ops.service
}

# The user's manager (user@1000.service, delegated by systemd) with its own process in init.scope.
user_manager() {
  controllers ""; mk /user.slice; controllers /user.slice; mk /user.slice/user-1000.slice; controllers /user.slice/user-1000.slice
  local u=/user.slice/user-1000.slice/user@1000.service
  mk $u; delegate $u
  mk $u/init.scope; delegate $u/init.scope; sleeper $u/init.scope      # systemd --user
  "${AS_USER[@]}" bash -c "echo '+memory +pids +cpu' > $C$u/cgroup.subtree_control; mkdir -p $C$u/app.slice"
  mkdir -p /tmp/u1000; chown 1000:1000 /tmp/u1000
}

layout_rootless_delegated() {   # systemd-run --user --scope -p Delegate=yes: a scope of its own with the controllers
  user_manager
  local u=/user.slice/user-1000.slice/user@1000.service
  "${AS_USER[@]}" bash -c "echo '+memory +pids +cpu' > $C$u/app.slice/cgroup.subtree_control; mkdir -p $C$u/app.slice/coven-test.scope"
  xctest $USER_TESTS run_in $u/app.slice/coven-test.scope "${AS_USER[@]}"
  PLACEMENT="own subtree: this process in /sys/fs/cgroup$u/app.slice/run-" smoke_checks run_in_new_scope $u/app.slice "${AS_USER[@]}"
}

layout_rootless_user_manager() {   # a terminal's scope under user@1000.service: populated, no controllers of its own
  user_manager
  local s=/user.slice/user-1000.slice/user@1000.service/app.slice/terminal.scope
  "${AS_USER[@]}" mkdir -p $C$s
  sleeper $s
  xctest $USER_TESTS run_in $s "${AS_USER[@]}"
  PLACEMENT="delegated subtree: sandboxes in /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/coven/" \
    smoke_checks run_in $s "${AS_USER[@]}"
}

layout_rootless_plain() {       # an unprivileged user in a root-owned login session: no delegation
  controllers ""; mk /user.slice; controllers /user.slice; mk /user.slice/user-1000.slice; controllers /user.slice/user-1000.slice
  local s=/user.slice/user-1000.slice/session-2.scope
  mk $s; sleeper $s
  mkdir -p /tmp/u1000; chown 1000:1000 /tmp/u1000
  xctest $USER_TESTS run_in $s "${AS_USER[@]}"
  # Runs anyway, and says which limits are not enforced, and why.
  local out
  out=$(run_in $s "${AS_USER[@]}" $CLI sandbox exec --memory 64M --pids 32 -- /bin/echo hi 2>&1)
  if echo "$out" | grep -q '^hi$' && echo "$out" | grep -q 'memory limit not enforced' && echo "$out" | grep -q 'pids limit not enforced'
  then ok "runs without a delegated cgroup and names each limit not enforced"
  else bad "runs without a delegated cgroup and names each limit not enforced" "$(echo "$out" | tr '\n' ' ')"; fi
  out=$(run_in $s "${AS_USER[@]}" $CLI doctor 2>&1)
  echo "$out" > "$R/$LAYOUT.doctor"
  if echo "$out" | grep -qE '^warn +sandbox:.*without' && echo "$out" | grep -q 'memory not enforced'
  then ok "doctor says which limits are not enforced"
  else bad "doctor says which limits are not enforced" "$(echo "$out" | grep -E 'sandbox|cgroups' | tr '\n' ' ')"; fi
}

export -f ok bad smoke_checks daemon_check leftovers xctest run_in run_in_new_scope mk delegate
export PLACEMENT BIN CLI XCTEST R C ROOT_TESTS SHELL_TESTS SERVICE_TESTS USER_TESTS REPO

for LAYOUT in $LAYOUTS; do
  export LAYOUT SMOKE=$R/$LAYOUT.smoke
  : > "$SMOKE"
  start=$SECONDS
  echo "guest: layout $LAYOUT"
  "layout_${LAYOUT//-/_}"
  leftovers
  echo "guest: layout $LAYOUT done in $((SECONDS - start)) s"
done
