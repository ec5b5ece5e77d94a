#!/usr/bin/env bash
# make test-vm: the cgroup v2 host layouts, proven on Debian's own kernels.
#
# This machine (like CI's) is cgroup v1, so each kernel boots under qemu with software
# emulation (-accel tcg: a nested KVM guest hangs at boot here). The kernel comes from
# Debian's package (apt-get download + dpkg-deb -x, never installed on the host); a
# busybox-static initramfs loads its virtio and 9p modules, mounts the host's root
# read-only over virtio-9p and switch_roots into it, so the test binary built on the host
# runs unchanged. Tests/VM/guest.sh builds the layouts and runs the tests; results come
# back through a second, writable 9p share.
#
#   VM_KERNELS="6.1 6.12"   kernel series to boot (Debian 12's 6.1 and its 6.12 package)
#   VM_LAYOUTS=…            layouts to run (default: all, see guest.sh)
#   VM_TIMEOUT=900          seconds before a VM that did not report counts as failed
# Exit status: 0 when every layout on every kernel passed and reported, else 1.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${VM_WORK:-$repo/.build/vm}
kernels=${VM_KERNELS:-6.1 6.12}
layouts=${VM_LAYOUTS:-root,container,session,service,rootless-delegated,rootless-user-manager,rootless-plain}
timeout_s=${VM_TIMEOUT:-900}
export PATH=$PATH:/usr/sbin:/sbin
mkdir -p "$work/debs"

say() { echo "test-vm: $*"; }

# The newest Debian package of a kernel series.
kernel_package() {
  case $1 in
    6.1) apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\./ { print $2; exit }' ;;
    *) apt-cache pkgnames "linux-image-$1." 2>/dev/null | grep -E "^linux-image-$(echo "$1" | sed 's/\./\\./')\.[0-9]+\+deb12-amd64$" | sort -V | tail -1 ;;
  esac
}

# Unpacks the kernel package once; prints its directory.
fetch_kernel() {
  local series=$1 pkg dir
  pkg=$(kernel_package "$series")
  if [ -z "$pkg" ]; then apt-get update -qq >&2; pkg=$(kernel_package "$series"); fi
  [ -n "$pkg" ] || { say "no Debian package found for kernel $series" >&2; return 1; }
  dir=$work/$pkg
  if [ ! -d "$dir/boot" ]; then
    (cd "$work/debs" && apt-get download -q "$pkg" >&2) || { say "apt-get download $pkg failed" >&2; return 1; }
    local deb
    deb=$(ls -t "$work/debs/$pkg"_*.deb | head -1)
    rm -rf "$dir.tmp" && dpkg-deb -x "$deb" "$dir.tmp" && mv "$dir.tmp" "$dir" || { say "cannot unpack $deb" >&2; return 1; }
  fi
  echo "$dir"
}

# The initramfs: busybox, our /init, and the virtio/9p modules in load order.
build_initramfs() {
  local kdir=$1 out=$2 ver root n=0 ko
  ver=$(ls "$kdir/lib/modules")
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,modules,proc,sys,dev,host}
  cp /bin/busybox "$root/bin/busybox"
  cp "$repo/Tests/VM/initramfs-init" "$root/init"
  chmod 0755 "$root/init"
  depmod -b "$kdir" "$ver"
  for m in virtio_pci 9pnet_virtio 9p; do modprobe -d "$kdir" -S "$ver" --show-depends "$m"; done \
    | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$root/order"
  while read -r ko; do
    n=$((n + 1))
    local base
    base=$(printf '%02d-%s' "$n" "$(basename "$ko")")
    case $ko in
      *.xz) xz -dc "$ko" > "$root/modules/${base%.xz}" ;;
      *.zst) zstd -qdc "$ko" > "$root/modules/${base%.zst}" ;;
      *) cp "$ko" "$root/modules/$base" ;;
    esac
  done < "$root/order"
  rm "$root/order"
  [ "$n" -gt 0 ] || { say "no virtio/9p modules found in $kdir" >&2; rm -rf "$root"; return 1; }
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$out" || { rm -rf "$root"; return 1; }
  rm -rf "$root"
}

# "N S F": tests executed, skipped and failed, from XCTest's last summary in each log
# ("Executed 112 tests, with 10 tests skipped and 0 failures ...").
xctest_totals() {
  grep -hE "^Test Suite '(All|Selected) tests' (passed|failed)" -A1 "$@" 2>/dev/null \
    | sed -nE 's/.*Executed ([0-9]+) tests?, with (([0-9]+) tests? skipped and )?([0-9]+) failures?.*/\1 \3 \4/p' \
    | awk '{ t += $1; s += ($3 == "" ? 0 : $2); f += ($3 == "" ? $2 : $3) } END { if (NR) printf "%d %d %d", t, s, f }'
}

failed=0
summary=()
logs=()
vers=()

# The VM of one kernel: boots, runs every layout, powers off. One at a time: software
# emulation is CPU-bound, and two VMs side by side on 2 cores took longer than in turn.
# mitigations=off: under TCG every page-table switch of the kernel's Meltdown/Spectre
# defences is emulated, and the guest runs nothing untrusted but our own probes.
boot() {
  local kdir=$1 ver=$2 res=$3 start=$SECONDS
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 4G \
    -nographic -no-reboot -nic none -kernel "$(ls "$kdir"/boot/vmlinuz-*)" -initrd "$work/initramfs-$ver.gz" \
    -append "console=ttyS0 quiet panic=-1 mitigations=off coven.script=$repo/Tests/VM/guest.sh coven.repo=$repo coven.layouts=$layouts" \
    -virtfs local,path=/,mount_tag=host,readonly=on,security_model=passthrough,multidevs=remap \
    -virtfs "local,path=$res,mount_tag=results,security_model=passthrough" > "$res/console.log" 2>&1
  say "$ver ran $((SECONDS - start)) s"
}

for series in $kernels; do
  kdir=$(fetch_kernel "$series") || { failed=1; summary+=("kernel $series: not available"); continue; }
  ver=$(ls "$kdir/lib/modules")
  build_initramfs "$kdir" "$work/initramfs-$ver.gz" || { failed=1; summary+=("$ver: cannot build the initramfs"); continue; }
  res=$work/results-$ver
  rm -rf "$res" && mkdir -p "$res"
  say "booting $ver (layouts: $layouts)"
  boot "$kdir" "$ver" "$res"
  vers+=("$ver")
done

for ver in "${vers[@]}"; do
  res=$work/results-$ver
  if [ ! -f "$res/done" ]; then
    failed=1
    summary+=("$ver: the VM did not report (timeout or crash); console: $res/console.log")
    tail -20 "$res/console.log"
    continue
  fi
  for layout in ${layouts//,/ }; do
    log=$res/$layout.xctest.log
    logs+=("$log")
    read -r ran skipped tests_failed <<< "$(xctest_totals "$log")"
    smoke_ok=$(grep -c '^ok' "$res/$layout.smoke" 2>/dev/null)
    smoke_bad=$(grep -c '^FAIL' "$res/$layout.smoke" 2>/dev/null)
    # The layout's own checks must have run, not been skipped (COVEN_VM_LAYOUT lost, say).
    layout_ran=$(grep -c "HostLayoutTests.testSandboxesGoWhereTheLayoutAllows' passed" "$log" 2>/dev/null)
    if [ -z "${ran:-}" ] || [ "$tests_failed" != 0 ] || [ $((ran - skipped)) -lt 1 ] || [ "${layout_ran:-0}" = 0 ] \
       || [ "${smoke_bad:-1}" != 0 ] || [ "${smoke_ok:-0}" -lt 2 ]; then
      failed=1
      tests="no XCTest summary"
      [ -n "${ran:-}" ] && tests="$ran tests, $skipped skipped, $tests_failed failed, layout checks ${layout_ran:-0}"
      summary+=("$ver $layout: FAILED ($tests; smoke $smoke_ok ok, $smoke_bad failed)")
      grep -E "error:|failed \(" "$log" 2>/dev/null | head -20
      grep '^FAIL' "$res/$layout.smoke" 2>/dev/null
    else
      summary+=("$ver $layout: ok ($((ran - skipped)) tests passed, $skipped skipped; smoke $smoke_ok ok)")
    fi
  done
done
for s in "${summary[@]}"; do say "$s"; done
# One line in XCTest's shape, so .ci/run can add the VM's tests to its total.
read -r ran skipped tests_failed <<< "$( [ ${#logs[@]} -gt 0 ] && xctest_totals "${logs[@]}")"
say "Executed ${ran:-0} tests, with ${skipped:-0} tests skipped and ${tests_failed:-0} failures in the VMs"
exit $failed
