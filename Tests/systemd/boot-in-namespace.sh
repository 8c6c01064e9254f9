#!/bin/bash
# Tests/systemd/boot-in-namespace.sh STAGE — runs as PID 1 of new PID and mount namespaces (see
# test_under_systemd.py, which starts it with `unshare --pid --fork --mount --uts --ipc`) and turns into
# systemd 252 there, with Reel installed as docs/DEPLOY.md says. STAGE is a directory prepared by the
# test: bin/reel, profiles/, units/ (the repo's systemd/ files), reel.env, passwd, group, data/.
#
# Everything below is mounted inside this namespace only; the host's /etc, /usr/local, /mnt, /tmp and
# /run are not touched. systemd's own boot jobs are switched off (sysinit.target and basic.target are
# empty here, tmpfiles is masked) because the file system below is still the host's: a boot-time
# tmpfiles run would empty the host's /tmp.
set -euo pipefail
stage=$1

mount --make-rprivate /
# Scratch file systems for everything systemd and the units write outside the storage root. The stage
# is reachable through /run/stage, as it may itself live under the /tmp hidden here.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir /run/stage
mount --bind "$stage" /run/stage
stage=/run/stage
for dir in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$dir"; done

# /etc becomes a copy-on-write layer over the host's: edits land in /run and vanish with the namespace.
mkdir -p /run/etc-upper /run/etc-work
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/etc-upper,workdir=/run/etc-work /etc
for dir in /etc /tmp /run; do
    # Belt and braces: nothing below may write to the host's own files.
    [ "$(findmnt -n -o TARGET --target "$dir")" = "$dir" ] || { echo "boot-in-namespace: $dir is not a private mount" >&2; exit 1; }
done

# No file systems from the host's fstab (the generator would make mount units of them).
: > /etc/fstab

# The reel user (DEPLOY.md step 3) as the services see it.
cp "$stage/passwd" /etc/passwd
cp "$stage/group" /etc/group

# DEPLOY.md steps 2, 5, 6: binary, profiles, configuration, units, polkit rule.
mount -t tmpfs tmpfs /usr/local
mkdir -p /usr/local/bin /usr/local/share/reel/profiles /usr/local/share/doc/reel
install -m 0755 "$stage/bin/reel" /usr/local/bin/reel
install -m 0644 "$stage"/profiles/*.yaml /usr/local/share/reel/profiles/
install -d -m 0755 /etc/reel
install -m 0640 -g reel "$stage/reel.env" /etc/reel/reel.env
rm -rf /etc/polkit-1/rules.d && install -d -m 0755 /etc/polkit-1/rules.d
install -m 0644 "$stage/units/50-reel-autoscaler.rules" /etc/polkit-1/rules.d/

rm -rf /etc/systemd/system && install -d -m 0755 /etc/systemd/system
units=/etc/systemd/system
install -m 0644 "$stage"/units/reel.target "$stage"/units/reel-server.service \
                "$stage"/units/reel-worker@.service "$stage"/units/reel-autoscaler.service "$units/"
# No boot: every unit the early-boot targets pull in is masked (udev, sysctl, tmpfiles, journald, …:
# they would act on the host's devices, kernel settings and /tmp), except the D-Bus socket.
for wants in /lib/systemd/system/{sysinit,sockets,basic,local-fs,timers,paths}.target.wants; do
    for unit in "$wants"/*; do
        [ -e "$unit" ] || [ -L "$unit" ] || continue
        name=$(basename "$unit")
        [ "$name" = dbus.socket ] || ln -sf /dev/null "$units/$name"
    done
done
for unit in systemd-tmpfiles-clean.timer systemd-tmpfiles-clean.service systemd-journald.service \
            systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service; do
    ln -sf /dev/null "$units/$unit"
done
printf '[Unit]\nDescription=Reel test boot\nWants=dbus.socket\n' > "$units/reel-test.target"
# No journald here: every service writes to a file the test reads.
mkdir -p "$units/service.d"
printf '[Service]\nStandardOutput=append:/run/reel-logs/%%n.log\nStandardError=inherit\n' > "$units/service.d/test-logs.conf"
mkdir -p /run/reel-logs

# The storage root: the stage's data directory, where the NFS share would be.
mount -t tmpfs tmpfs /mnt
mkdir -p /mnt/nfs_share
mount --bind "$stage/data" /mnt/nfs_share

echo "boot-in-namespace: starting systemd"
exec env container=reel-test /lib/systemd/systemd --system --unit=reel-test.target \
     --log-target=console --log-level=notice --show-status=no
