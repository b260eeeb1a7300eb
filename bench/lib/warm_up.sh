# Sourced by every benchmark script: what each measurement starts with, untimed, for every
# contender alike. Two properties of this VM would otherwise be measured instead of the contenders:
# - It pages out what was not touched for a minute (a DAMON pageout scheme): servers must serve
#   from memory, so their files are read again.
# - Its host takes back guest memory the guest has freed (virtio-balloon free page reporting,
#   page_reporting_order=11 on the kernel command line), and the first touch of such a page
#   faults on the host: 1 GiB of fresh pages took 2.0 s against 0.5 s for pages freed a moment
#   ago. Whoever fills memory (a mapping, a FUSE peer's page cache) paid it at random, and
#   curl -o /dev/null, which fills none, never did. warm_guest_memory touches and frees
#   WARM_MEMORY_MB (default: the object's size plus 512) so the kernel's next allocations are
#   pages the host backs; the kernel reports free pages after 2 s and allocates reported ones last.
#   WARM_MEMORY_MB=0 turns it off.
warm_up() {  # FILE...: the servers' files
  cat "$@" > /dev/null
  warm_guest_memory
}
warm_memory_mb() {  # what warm_guest_memory touches, in MiB (recorded by the peer bench)
  echo "${WARM_MEMORY_MB:-$((size_mb + 512))}"
}
warm_guest_memory() {
  local mb
  mb=$(warm_memory_mb)
  ((mb > 0)) || return 0
  python3 -c 'import sys
n = int(sys.argv[1]) << 20
b = bytearray(n)
b[::4096] = b"\1" * (n // 4096)' "$mb"
}
