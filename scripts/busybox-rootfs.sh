#!/bin/sh
# Make a minimal rootfs from Debian's busybox-static: /bin/busybox plus one symlink per applet
# (never a link named "busybox" over the binary itself), /etc/passwd and /etc/group.
# Usage: busybox-rootfs.sh DIR          -> the rootfs in DIR
#        busybox-rootfs.sh -t FILE.tar  -> the rootfs as a tar (numeric owners 0:0)
set -eu
BB=${BUSYBOX:-/bin/busybox}
[ -x "$BB" ] || { echo "busybox-static is not installed ($BB)" >&2; exit 1; }
tarout=""
if [ "$1" = "-t" ]; then tarout=$2; dir=$(mktemp -d); else dir=$1; fi
chmod 755 "$dir"
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/var"
chmod 1777 "$dir/tmp"
cp "$BB" "$dir/bin/busybox"
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] && continue
  [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
if [ -n "$tarout" ]; then
  tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$tarout" .
  rm -rf "$dir"
fi
