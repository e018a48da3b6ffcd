#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the rig's dom0 initramfs: bring up the Xen control plane the way
# xencommons does, then run /rig/job.sh and report its status on the console.
# /etc/xenrig.env (written by the rig) names the toolstack's bin directory
# and the kernel modules to load, in order.
. /etc/xenrig.env
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin:$XEN_BIN
export HOME=/root LANG=C.UTF-8
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run /var/run/xen /var/run/xenstored /var/lib/xen \
         /var/lib/xenstored /var/log/xen /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
for m in $XEN_MODULES; do
    insmod /lib/modules/$m.ko || echo "RIG: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen
echo "RIG: dom0 up"
xenstored --pid-file /var/run/xenstored.pid >/var/log/xen/xenstored.log 2>&1
for i in $(seq 1 50); do xenstore-read / >/dev/null 2>&1 && break; sleep 0.1; done
xen-init-dom0 >/var/log/xen/init-dom0.log 2>&1 || echo "RIG: xen-init-dom0 failed"
mkdir -p /var/log/xen/console
xenconsoled --pid-file=/var/run/xenconsoled.pid --log=none >/dev/null 2>&1 || echo "RIG: xenconsoled failed"
echo "RIG: xenstored up"
[ -d /data ] || mkdir -p /data
cd /data
sh /rig/job.sh
status=$?
echo "XEN-RUN-EXIT $status"
sync
poweroff -f
